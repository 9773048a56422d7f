package wal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// HistoryEntry is one line of a timeline history file: timeline TLI ended
// at Switch, where its child branched off.
type HistoryEntry struct {
	TLI    uint32
	Switch LSN
	Reason string
}

// HistoryFileName is the name of timeline tli's history file.
func HistoryFileName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }

// ParseHistoryFileName reads the timeline of a "<8 hex>.history" name.
func ParseHistoryFileName(name string) (uint32, bool) {
	hex, ok := strings.CutSuffix(name, ".history")
	if !ok || len(hex) != 8 || strings.ToUpper(hex) != hex {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	return uint32(v), err == nil
}

// ParseHistory reads a timeline history file as PostgreSQL writes it
// (writeTimeLineHistory): one "<parent tli>\t<switch LSN>\t<reason>" line
// per ancestor, oldest first; blank lines and '#' comments are skipped.
func ParseHistory(content []byte) ([]HistoryEntry, error) {
	var out []HistoryEntry
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("timeline history line %q: want '<timeline> <LSN> <reason>'", line)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("timeline history line %q: %w", line, err)
		}
		lsn, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("timeline history line %q: %w", line, err)
		}
		if n := len(out); n > 0 && (uint32(tli) <= out[n-1].TLI || lsn < out[n-1].Switch) {
			return nil, fmt.Errorf("timeline history line %q: timelines must increase and switch points must not go back", line)
		}
		out = append(out, HistoryEntry{TLI: uint32(tli), Switch: lsn, Reason: strings.Join(f[2:], " ")})
	}
	return out, sc.Err()
}

// ReadArchived reads a small archived file (a .history file) whole: the
// object under any codec, decompressed by its extension and checked against
// the checksum recorded at push time. A missing file wraps
// ErrSegmentNotFound.
func ReadArchived(ctx context.Context, store objectstore.Store, cfg Config, name string) ([]byte, error) {
	tli, err := Timeline(name)
	if err != nil {
		return nil, err
	}
	objs, err := locate(ctx, store, cfg.Layout, tli, name)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s in s3://%s/%s: %w", name, store.Bucket(), cfg.Layout.WALDir(), ErrSegmentNotFound)
	}
	return ReadObject(ctx, store, objs[0].Key)
}

// ReadObject reads the archived object at key whole, decompressed by its
// extension and checked against its recorded checksum (for small files).
func ReadObject(ctx context.Context, store objectstore.Store, key string) ([]byte, error) {
	method, _ := compression.ByExt(key[strings.LastIndexByte(key, '.')+1:])
	body, info, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w: %w", key, ErrSegmentNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer body.Close()
	zr, err := method.NewReader(body)
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", key, err)
	}
	defer zr.Close()
	// NOTE: history files are a few lines; 16 MiB bounds a mislabelled
	// object without ever holding a segment-sized one twice.
	raw, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	sum := sha256.Sum256(raw)
	if want := info.Metadata[MetaSHA256]; want == "" || want != hex.EncodeToString(sum[:]) {
		return nil, &ChecksumError{Key: store.Bucket() + "/" + key, Want: want, Got: hex.EncodeToString(sum[:]), Size: int64(len(raw))}
	}
	return raw, nil
}

// PushContent archives a WAL file whose bytes are at hand rather than on
// disk (a timeline history file read from a server over SQL), with every
// rule of Push: it goes through a private temporary file of that name.
func PushContent(ctx context.Context, store objectstore.Store, cfg Config, name string, content []byte) (PushResult, error) {
	if _, err := Timeline(name); err != nil {
		return PushResult{}, err
	}
	dir, err := os.MkdirTemp("", "lifeboat-push-")
	if err != nil {
		return PushResult{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		return PushResult{}, err
	}
	return Push(ctx, store, cfg, path)
}

// PushHistories archives the timeline history files a server holds (name
// -> content, from pg.HistoryFiles or its pg_wal) that the archive lacks,
// and returns the names it wrote. Files already archived with the same
// bytes are left alone; one archived with different bytes (another server
// took the same timeline number) fails with a *ConflictError: archiving
// this server would then mix two histories under one timeline.
func PushHistories(ctx context.Context, store objectstore.Store, cfg Config, files map[string][]byte) ([]string, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		if _, ok := ParseHistoryFileName(name); !ok {
			return nil, fmt.Errorf("%q is not a timeline history file name", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var pushed []string
	for _, name := range names {
		res, err := PushContent(ctx, store, cfg, name, files[name])
		if err != nil {
			return pushed, fmt.Errorf("archiving %s: %w", name, err)
		}
		if !res.AlreadyArchived {
			pushed = append(pushed, name)
		}
	}
	return pushed, nil
}

// HistoryFilesIn reads the timeline history files in a data directory's
// pg_wal, for PushHistories (the agent, beside the server).
func HistoryFilesIn(pgdata string) (map[string][]byte, error) {
	entries, err := os.ReadDir(filepath.Join(pgdata, "pg_wal"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if _, ok := ParseHistoryFileName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(pgdata, "pg_wal", e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = raw
	}
	return out, nil
}

// PushUnarchivedHistory archives the timeline history files in the pg_wal
// directory walDir that PostgreSQL never archived, before a file of
// timeline tli is pushed, and marks them done as PostgreSQL's archiver
// would. A server promoted while archiving was off wrote its history file
// without a .ready status: PostgreSQL then never archives it, and restores
// could not follow the timeline. The common case costs one stat: the
// timeline's own history file already marked done (or ready: PostgreSQL
// will archive it itself).
func PushUnarchivedHistory(ctx context.Context, store objectstore.Store, cfg Config, walDir string, tli uint32) ([]string, error) {
	if !HistoryUnarchived(walDir, tli) {
		return nil, nil
	}
	status := filepath.Join(walDir, "archive_status")
	files, err := HistoryFilesIn(filepath.Dir(walDir))
	if err != nil {
		return nil, err
	}
	for name := range files {
		if historyKnown(status, name) {
			delete(files, name)
		}
	}
	pushed, err := PushHistories(ctx, store, cfg, files)
	if err != nil {
		return pushed, err
	}
	for name := range files {
		f, err := os.OpenFile(filepath.Join(status, name+".done"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return pushed, err
		}
		f.Close()
	}
	return pushed, nil
}

// HistoryUnarchived reports whether the pg_wal directory walDir holds
// timeline tli's history file without PostgreSQL ever having marked it
// for archiving (PushUnarchivedHistory's case). The common case costs one
// stat.
func HistoryUnarchived(walDir string, tli uint32) bool {
	if tli <= 1 {
		return false
	}
	own := HistoryFileName(tli)
	if historyKnown(filepath.Join(walDir, "archive_status"), own) {
		return false
	}
	_, err := os.Stat(filepath.Join(walDir, own))
	return err == nil
}

// historyKnown reports whether PostgreSQL marked name ready or done in the
// archive_status directory status.
func historyKnown(status, name string) bool {
	for _, ext := range []string{".done", ".ready"} {
		if _, err := os.Stat(filepath.Join(status, name+ext)); err == nil {
			return true
		}
	}
	return false
}
