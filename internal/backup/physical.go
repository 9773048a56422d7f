package backup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/klauspost/compress/zstd"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Where compression runs.
const (
	CompressedByServer = "server"
	CompressedByClient = "client"
)

// Options configures a physical base backup.
type Options struct {
	// Layout is the cluster's repository in the bucket.
	Layout repo.Layout
	// DSN is a PostgreSQL connection string (URL or key=value) for a role
	// with the REPLICATION attribute; replication=database is added.
	DSN string
	// Label is PostgreSQL's backup label; default "lifeboat <id>".
	Label string
	// Compression is zstd (default), lz4 or none.
	Compression string
	// ClientCompression compresses in the agent instead of asking
	// PostgreSQL 15+ to compress server-side (which streams fewer bytes
	// and runs zstd with Workers threads beside the server).
	ClientCompression bool
	// Level is the zstd level; 0 means 1, the fastest.
	Level int
	// Workers is the number of zstd threads (server or client); 0 means 2.
	Workers int
	// PartSize is the stored size at which an archive moves on to its next
	// object; 0 means DefaultPartSize.
	PartSize int64
	// MaxRate limits the server's read rate in kB/s (32..1048576); 0 means
	// unlimited.
	MaxRate int
	// Recipients, when set, encrypts every archive and the backup_manifest
	// after compression (crypt): this host cannot read the backup back.
	Recipients *crypt.Recipients
	// Progress, when set, is called as the backup advances.
	Progress func(Progress)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// ErrServerTooOld means the server predates the PostgreSQL 15 base backup
// protocol this package speaks.
var ErrServerTooOld = errors.New("base backups need PostgreSQL 15 or later")

// Take runs a physical base backup of the cluster behind opts.DSN into
// store and returns its manifest, written last (see the package comment).
// On error nothing is left that any command would take for a backup; the
// parts already stored are deleted on a best-effort basis, and a later
// catalog.Prune removes whatever remains (a killed agent cannot clean up).
func Take(ctx context.Context, store objectstore.Store, opts Options) (*Manifest, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	method, err := compression.Lookup(opts.Compression)
	if err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Level <= 0 {
		opts.Level = 1
	}
	if opts.MaxRate != 0 && (opts.MaxRate < 32 || opts.MaxRate > 1048576) {
		return nil, fmt.Errorf("max rate %d kB/s out of range 32..1048576", opts.MaxRate)
	}

	cfg, err := pgconn.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL connection string: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "lifeboat backup"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting for replication (the role needs REPLICATION and pg_hba.conf a replication entry): %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	sys, err := identify(ctx, conn)
	if err != nil {
		return nil, err
	}
	if sys.serverVersion < 150000 {
		return nil, fmt.Errorf("%w: server is %d", ErrServerTooOld, sys.serverVersion)
	}
	if _, err := repo.EnsureCluster(ctx, store, opts.Layout, sys.systemID); err != nil {
		return nil, err
	}

	start := now().UTC()
	m := &Manifest{
		Format: FormatVersion, Kind: KindPhysical, ID: NewID(start), Cluster: opts.Layout.Cluster,
		SystemIdentifier: strconv.FormatUint(sys.systemID, 10), ServerVersion: sys.serverVersion,
		StartTime: start, WALSegmentSize: sys.segSize, Compression: method.Name,
		Encryption: opts.Recipients.Info(),
	}
	m.Label = opts.Label
	if m.Label == "" {
		m.Label = "lifeboat " + m.ID
	}
	serverSide := method.Name != compression.None && !opts.ClientCompression
	if method.Name != compression.None {
		m.CompressedBy = CompressedByClient
		if serverSide {
			m.CompressedBy = CompressedByServer
		}
	}

	// One stream: its archives and parts are stored one after another, so
	// the part buffers they take stay the same however many there are.
	defer objectstore.ReserveStreams(1)()
	s := &stream{
		ctx: ctx, store: store, opts: opts, m: m, method: method, serverSide: serverSide,
		started: time.Now(),
	}
	err = s.run(conn)
	if err == nil {
		m.StopTime = now().UTC()
		s.report("manifest")
		// Safety rule: the manifest is the last write. Every part and
		// PostgreSQL's backup_manifest were acknowledged above; only now
		// does the backup exist.
		err = writeManifest(ctx, store, opts.Layout.BackupManifestKey(m.ID), m)
	}
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("base backup %s: %w", m.ID, err)
	}
	s.report("done")
	return m, nil
}

type systemInfo struct {
	systemID      uint64
	serverVersion int
	segSize       uint64
}

func identify(ctx context.Context, conn *pgconn.PgConn) (systemInfo, error) {
	var si systemInfo
	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		return si, fmt.Errorf("IDENTIFY_SYSTEM: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 1 {
		return si, errors.New("IDENTIFY_SYSTEM: unexpected result")
	}
	if si.systemID, err = strconv.ParseUint(string(res[0].Rows[0][0]), 10, 64); err != nil {
		return si, fmt.Errorf("IDENTIFY_SYSTEM: system identifier: %w", err)
	}
	v, err := show(ctx, conn, "server_version_num")
	if err != nil {
		return si, err
	}
	if si.serverVersion, err = strconv.Atoi(v); err != nil {
		return si, fmt.Errorf("server_version_num %q: %w", v, err)
	}
	v, err = show(ctx, conn, "wal_segment_size")
	if err != nil {
		return si, err
	}
	if si.segSize, err = parseSize(v); err != nil {
		return si, fmt.Errorf("wal_segment_size: %w", err)
	}
	return si, nil
}

func show(ctx context.Context, conn *pgconn.PgConn, name string) (string, error) {
	res, err := conn.Exec(ctx, "SHOW "+name).ReadAll()
	if err != nil {
		return "", fmt.Errorf("SHOW %s: %w", name, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return "", fmt.Errorf("SHOW %s: unexpected result", name)
	}
	return string(res[0].Rows[0][0]), nil
}

// parseSize reads a memory-unit GUC value as SHOW prints it ("16MB").
func parseSize(v string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			x, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
			if err != nil {
				return 0, err
			}
			return x * u.mult, nil
		}
	}
	return strconv.ParseUint(v, 10, 64)
}

// stream consumes PostgreSQL 15's BASE_BACKUP protocol: a result set with
// the start location, one listing the tablespaces, then a single COPY OUT
// whose CopyData messages start with a type byte ('n' new archive, 'd'
// data, 'p' progress, 'm' manifest follows), then a result set with the
// stop location.
type stream struct {
	ctx        context.Context
	store      objectstore.Store
	opts       Options
	m          *Manifest
	method     compression.Method
	serverSide bool
	started    time.Time

	read   atomic.Int64
	stored atomic.Int64

	tablespaces map[string]string // path -> oid
	cur         *archiveWriter
	written     []string // keys stored so far, for cleanup
}

// archiveWriter is where CopyData of the current archive (or the
// backup_manifest) goes: through the client-side compressor, if any, into
// parts.
type archiveWriter struct {
	archive  *Archive // nil for backup_manifest
	parts    *partWriter
	w        io.Writer
	enc      io.WriteCloser
	crypt    *crypt.Writer // encrypts into parts, after enc
	manifest bool
}

// encrypt puts encryption between aw's writer and its parts, when the
// backup is encrypted. It is called before a compressor is added.
func (s *stream) encrypt(aw *archiveWriter) error {
	if s.opts.Recipients == nil {
		return nil
	}
	ew, err := s.opts.Recipients.NewWriter(aw.parts)
	if err != nil {
		return err
	}
	aw.parts.meta = s.m.Encryption.Metadata(nil)
	aw.crypt, aw.w = ew, ew
	return nil
}

func (s *stream) command() string {
	q := func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
	o := []string{
		"LABEL " + q(s.m.Label),
		"CHECKPOINT 'fast'",
		"MANIFEST 'yes'",
		"TABLESPACE_MAP",
		"TARGET 'client'",
	}
	if s.opts.MaxRate > 0 {
		o = append(o, fmt.Sprintf("MAX_RATE %d", s.opts.MaxRate))
	}
	if s.serverSide {
		o = append(o, "COMPRESSION "+q(s.method.Name))
		detail := fmt.Sprintf("level=%d", s.opts.Level)
		if s.method.Name == compression.Zstd {
			detail += fmt.Sprintf(",workers=%d", s.opts.Workers)
		} else {
			detail = "" // lz4's levels differ; keep its default
		}
		if detail != "" {
			o = append(o, "COMPRESSION_DETAIL "+q(detail))
		}
	}
	return "BASE_BACKUP (" + strings.Join(o, ", ") + ")"
}

func (s *stream) report(phase string) {
	if s.opts.Progress == nil {
		return
	}
	s.opts.Progress(Progress{ID: s.m.ID, Phase: phase, Read: s.read.Load(), Stored: s.stored.Load(), Elapsed: time.Since(s.started)})
}

func (s *stream) run(conn *pgconn.PgConn) (err error) {
	defer func() {
		if err != nil && s.cur != nil {
			s.cur.parts.Abort(err)
			for _, p := range s.cur.parts.parts {
				s.written = append(s.written, p.Key)
			}
			s.cur = nil
		}
	}()
	s.report("checkpoint")
	conn.Frontend().Send(&pgproto3.Query{String: s.command()})
	if err := conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("sending BASE_BACKUP: %w", err)
	}
	s.tablespaces = map[string]string{}
	results := 0 // row descriptions seen: 1 start, 2 tablespaces, 3 stop
	var pgErr error
	// One watch of the context for the whole stream, which interrupts a
	// blocked read as pgconn's own does: pgconn watches the context given
	// to each ReceiveMessage with allocations of its own, and that garbage
	// of one or more objects per message (tens of MB at 6 GB) grew the peak
	// heap with the database's size.
	stopWatch := context.AfterFunc(s.ctx, func() { _ = conn.Conn().SetDeadline(time.Now()) })
	defer stopWatch()
	for {
		msg, err := conn.ReceiveMessage(context.Background())
		if err != nil {
			if cerr := s.ctx.Err(); cerr != nil {
				return fmt.Errorf("receiving the base backup: %w (%w)", cerr, err)
			}
			return fmt.Errorf("receiving the base backup: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.RowDescription:
			results++
		case *pgproto3.DataRow:
			if err := s.row(results, msg.Values); err != nil {
				return err
			}
		case *pgproto3.CopyOutResponse:
			s.report("streaming")
		case *pgproto3.CopyData:
			if err := s.copyData(msg.Data); err != nil {
				return err
			}
		case *pgproto3.CopyDone:
			if err := s.endArchive(); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			pgErr = pgconn.ErrorResponseToPgError(msg)
		case *pgproto3.ReadyForQuery:
			if pgErr != nil {
				return fmt.Errorf("BASE_BACKUP: %w", pgErr)
			}
			if s.m.StopLSN == "" {
				return errors.New("BASE_BACKUP ended without a stop location")
			}
			if s.m.BackupManifest == nil {
				return errors.New("BASE_BACKUP sent no backup_manifest")
			}
			return nil
		}
	}
}

func (s *stream) row(results int, v [][]byte) error {
	switch results {
	case 1, 3:
		if len(v) != 2 {
			return fmt.Errorf("BASE_BACKUP: location row has %d columns", len(v))
		}
		lsn, err := wal.ParseLSN(string(v[0]))
		if err != nil {
			return err
		}
		tli, err := strconv.ParseUint(string(v[1]), 10, 32)
		if err != nil {
			return fmt.Errorf("BASE_BACKUP: timeline %q: %w", v[1], err)
		}
		if results == 1 {
			s.m.StartLSN, s.m.Timeline = lsn.String(), uint32(tli)
			s.m.WALStart = wal.SegmentOf(uint32(tli), lsn, s.m.WALSegmentSize).Name(s.m.WALSegmentSize)
		} else {
			s.m.StopLSN, s.m.StopTimeline = lsn.String(), uint32(tli)
			s.m.WALStop = wal.SegmentBefore(uint32(tli), lsn, s.m.WALSegmentSize).Name(s.m.WALSegmentSize)
		}
	case 2:
		if len(v) == 3 && v[0] != nil {
			s.tablespaces[string(v[1])] = string(v[0])
		}
	}
	return nil
}

func (s *stream) copyData(d []byte) error {
	if len(d) == 0 {
		return errors.New("BASE_BACKUP: empty CopyData message")
	}
	switch d[0] {
	case 'd':
		if s.cur == nil {
			return errors.New("BASE_BACKUP: data before any archive")
		}
		_, err := s.cur.w.Write(d[1:])
		return err
	case 'n':
		name, rest, ok := cstring(d[1:])
		path, _, ok2 := cstring(rest)
		if !ok || !ok2 || name == "" || strings.ContainsAny(name, "/\\") {
			return fmt.Errorf("BASE_BACKUP: bad new-archive message %q", d)
		}
		if err := s.endArchive(); err != nil {
			return err
		}
		return s.beginArchive(name, path)
	case 'm':
		if err := s.endArchive(); err != nil {
			return err
		}
		key := s.opts.Layout.BackupObjectKey(s.m.ID, repo.BackupPGManifest)
		pw := newPartWriter(s.ctx, s.store, key, 0, &s.stored)
		pw.single = true
		aw := &archiveWriter{parts: pw, w: pw, manifest: true}
		if err := s.encrypt(aw); err != nil {
			return err
		}
		s.cur = aw
		return nil
	case 'p':
		if len(d) >= 9 {
			s.read.Store(int64(binary.BigEndian.Uint64(d[1:9])))
			s.report("streaming")
		}
		return nil
	}
	// Unknown message types are future protocol extensions; PostgreSQL's
	// own client ignores them too.
	return nil
}

func (s *stream) beginArchive(name, path string) error {
	a := &Archive{Name: name, TablespacePath: path, TablespaceOID: s.tablespaces[path], Compression: s.method.Name}
	if s.serverSide && !strings.HasSuffix(name, "."+s.method.Ext) {
		return fmt.Errorf("BASE_BACKUP: asked for %s server-side but archive %q is not", s.method.Name, name)
	}
	if !s.serverSide && s.method.Name != compression.None {
		a.Name = name + "." + s.method.Ext
	}
	if s.method.Name == compression.None && name != strings.TrimSuffix(name, ".tar")+".tar" {
		return fmt.Errorf("BASE_BACKUP: archive %q is not a tar", name)
	}
	if s.opts.Recipients != nil {
		a.Name += ".age"
	}
	pw := newPartWriter(s.ctx, s.store, s.opts.Layout.BackupArchiveDir(s.m.ID, a.Name), s.opts.PartSize, &s.stored)
	aw := &archiveWriter{archive: a, parts: pw, w: pw}
	if err := s.encrypt(aw); err != nil {
		return err
	}
	if !s.serverSide && s.method.Name != compression.None {
		var enc io.WriteCloser
		var err error
		if s.method.Name == compression.Zstd {
			enc, err = zstd.NewWriter(aw.w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(s.opts.Level)),
				zstd.WithEncoderConcurrency(s.opts.Workers))
		} else {
			enc, err = s.method.NewWriter(aw.w)
		}
		if err != nil {
			return err
		}
		aw.enc, aw.w = enc, enc
	}
	s.cur = aw
	return nil
}

func (s *stream) endArchive() error {
	aw := s.cur
	if aw == nil {
		return nil
	}
	s.cur = nil
	if aw.enc != nil {
		if err := aw.enc.Close(); err != nil {
			aw.parts.Abort(err)
			return err
		}
	}
	if aw.crypt != nil {
		if err := aw.crypt.Close(); err != nil {
			aw.parts.Abort(err)
			return err
		}
	}
	if err := aw.parts.Close(); err != nil {
		return err
	}
	for _, p := range aw.parts.parts {
		s.written = append(s.written, p.Key)
	}
	if aw.manifest {
		p := aw.parts.parts[0]
		s.m.BackupManifest = &p
		s.m.StoredSize += p.Size
		return nil
	}
	aw.archive.Parts = aw.parts.parts
	aw.archive.StoredSize = aw.parts.storedSize()
	s.m.Archives = append(s.m.Archives, *aw.archive)
	s.m.StoredSize += aw.archive.StoredSize
	s.m.DataSize = s.read.Load()
	return nil
}

// cleanup deletes what a failed backup stored, best effort: prune removes
// anything left.
func (s *stream) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range s.written {
		_ = s.store.Delete(ctx, k)
	}
}

func cstring(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}
