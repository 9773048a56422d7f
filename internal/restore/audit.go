package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/version"
)

// Front ends, as audit records name them.
const (
	FrontEndProvider = "provider" // lifeboat_restore (Terraform and Pulumi)
	FrontEndCLI      = "cli"      // lifeboat restore
	FrontEndDrill    = "drill"    // a restore drill
	FrontEndAgent    = "agent"    // a restore the agent executes on request
)

// DefaultAuditRetention is how long an audit record stays under object
// lock when AuditOptions.Retention is zero.
const DefaultAuditRetention = 365 * 24 * time.Hour

// AuditOptions say who runs a restore and where its audit record goes.
// Every restore (Restore, Execute) appends a record when it starts and
// another when it ends, whatever the outcome; a restore whose start cannot
// be recorded does not run.
type AuditOptions struct {
	// Store writes the records. nil is the store the restore reads, which
	// then must be allowed to write the audit folder: a read-only
	// (restorer) store needs a Store of other credentials here, so that the
	// restore itself never writes with the restorer's.
	Store objectstore.Store
	// Signer signs the records (nil: unsigned, which a reader trusting
	// any key flags).
	Signer *signature.Signer
	// Retention is how long each record is locked and Mode
	// objectstore.ModeCompliance or ModeGovernance. The cluster's policy
	// declares them (repo.Policy.AuditRetention, read with Trust): the
	// declared retention is the least any record gets, a longer Retention
	// here (drill evidence kept longer) extends it, and the declared mode
	// wins. Without a declaration, Retention (default
	// DefaultAuditRetention) and Mode (default COMPLIANCE).
	Retention time.Duration
	Mode      string
	// Trust verifies the policy that declares the retention: a policy not
	// signed by one of its keys is ignored (the defaults apply). Without
	// keys the policy is taken as stored, which only the provider's
	// credentials may write.
	Trust signature.Trust
	// FrontEnd is one of the FrontEnd constants; Actor who asked for the
	// restore beyond its credentials (an account, a request id), if known.
	FrontEnd string
	Actor    string
}

// Audit results.
const (
	AuditRunning   = "running" // only the started record exists
	AuditSucceeded = "succeeded"
	AuditFailed    = "failed"
)

// AuditRecord is one restore's audit record: the started record carries
// everything known before the restore ran, the finished one repeats it
// with the outcome.
type AuditRecord struct {
	Format   int    `json:"format"`
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	Cluster  string `json:"cluster"`
	Kind     Kind   `json:"kind"`
	FrontEnd string `json:"front_end"`
	Actor    string `json:"actor,omitempty"`
	OSUser   string `json:"os_user,omitempty"`
	Host     string `json:"host"`
	Agent    string `json:"agent_version"`
	// ReadAccessKeyID names the credentials every repository read used;
	// WriteAccessKeyID the ones that wrote this record; Signer the key ID
	// that signed it.
	ReadAccessKeyID  string `json:"read_access_key_id,omitempty"`
	WriteAccessKeyID string `json:"write_access_key_id,omitempty"`
	Signer           string `json:"signer,omitempty"`
	// What: the recovery point asked for and the one used.
	PointInTime    string `json:"point_in_time"`
	TargetTimeline string `json:"recovery_target_timeline,omitempty"`
	Source         string `json:"source,omitempty"`
	WALRange       string `json:"wal_range,omitempty"`
	CleanRoom      bool   `json:"clean_room,omitempty"`
	NotAfter       string `json:"not_after,omitempty"`
	// Where to.
	DataDirectory  string `json:"data_directory,omitempty"`
	Port           int    `json:"port,omitempty"`
	Listen         string `json:"listen_addresses,omitempty"`
	SourceDatabase string `json:"source_database,omitempty"`
	NewDatabase    string `json:"new_database,omitempty"`
	TargetServer   string `json:"target_server,omitempty"`
	// Outcome.
	Started        time.Time `json:"started"`
	Finished       time.Time `json:"finished,omitzero"`
	Result         string    `json:"result"`
	Error          string    `json:"error,omitempty"`
	RestoredToTime time.Time `json:"restored_to_time,omitzero"`
	RestoredToLSN  string    `json:"restored_to_lsn,omitempty"`
	ChecksPassed   *bool     `json:"checks_passed,omitempty"`
}

// ErrAuditNotWritten means the record of a restore's start could not be
// written: the restore did not run.
var ErrAuditNotWritten = errors.New("restore audit record not written")

// auditor writes one restore's records.
type auditor struct {
	store objectstore.Store
	opts  AuditOptions
	key   func(phase string) string
	rec   AuditRecord
}

// beginAudit writes the started record of req, which reads through store.
func beginAudit(ctx context.Context, store objectstore.Store, req Request, plan *RecoveryPlan, started time.Time) (*auditor, error) {
	a := &auditor{store: req.Audit.Store, opts: req.Audit}
	if a.store == nil {
		a.store = store
	}
	host, _ := os.Hostname()
	osUser := ""
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	a.rec = AuditRecord{
		Format: 1, ID: started.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(suffix[:]),
		Cluster: req.Layout.Cluster, Kind: req.Kind, FrontEnd: req.Audit.FrontEnd, Actor: req.Audit.Actor, OSUser: osUser,
		Host: host, Agent: version.Version,
		ReadAccessKeyID: accessKeyID(ctx, store), WriteAccessKeyID: accessKeyID(ctx, a.store),
		PointInTime: "latest", TargetTimeline: req.TargetTimeline, CleanRoom: req.CleanRoom,
		Started: started.UTC(), Result: AuditRunning,
	}
	if a.rec.FrontEnd == "" {
		a.rec.FrontEnd = "unknown"
	}
	if a.opts.Signer != nil {
		a.rec.Signer = a.opts.Signer.Public().ID()
	}
	if !req.Target.IsZero() {
		a.rec.PointInTime = req.Target.UTC().Format(time.RFC3339Nano)
	}
	if !req.Point.IsZero() {
		a.rec.PointInTime = req.Point.String()
	}
	if !req.NotAfter.IsZero() {
		a.rec.NotAfter = req.NotAfter.UTC().Format(time.RFC3339Nano)
	}
	switch req.Kind {
	case KindCluster:
		a.rec.DataDirectory, a.rec.Port, a.rec.Listen = req.DataDir, req.Port, req.ListenAddresses
		if a.rec.Listen == "" {
			a.rec.Listen = "127.0.0.1"
		}
	case KindTenant:
		a.rec.SourceDatabase, a.rec.NewDatabase, a.rec.TargetServer = req.Database, req.NewDatabase, pg.Describe(req.TargetDSN)
	}
	if plan != nil {
		a.rec.Source, a.rec.WALRange = plan.Source.String(), plan.WALRange()
	}
	layout := req.Layout
	a.opts.Retention, a.opts.Mode = auditLock(ctx, a.store, layout, a.opts)
	a.key = func(phase string) string { return layout.RestoreAuditKey(a.rec.ID, phase) }
	if err := a.write(ctx, repo.AuditStarted); err != nil {
		return nil, fmt.Errorf("%w: %w; the restore did not run. Give the restore credentials that may write %s (the provider's, or the writer's), "+
			"never the restorer's alone", ErrAuditNotWritten, err, layout.RestoreAuditDir())
	}
	return a, nil
}

// finish writes the finished record: out (nil on failure) and err say how
// the restore ended. It returns the record's key, or why it could not be
// written (the restore's own outcome stands either way).
func (a *auditor) finish(ctx context.Context, plan *RecoveryPlan, out *Outcome, rerr error) (string, error) {
	a.rec.Finished = time.Now().UTC()
	if plan != nil {
		a.rec.Source, a.rec.WALRange = plan.Source.String(), plan.WALRange()
	}
	if rerr != nil {
		a.rec.Result, a.rec.Error = AuditFailed, rerr.Error()
	} else {
		a.rec.Result = AuditSucceeded
	}
	if out != nil {
		a.rec.Source = out.Source.String()
		a.rec.RestoredToTime, a.rec.RestoredToLSN = out.RestoredToTime.UTC(), out.RestoredToLSN
		if out.Plan != nil {
			a.rec.WALRange = (&RecoveryPlan{Kind: out.Kind, Source: out.Source, Cluster: out.Plan}).WALRange()
		}
		if len(out.Checks) > 0 {
			passed := out.ChecksPassed()
			a.rec.ChecksPassed = &passed
		}
	}
	// NOTE: written even when ctx is done (a timeout is the failure the
	// record must tell).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return a.key(repo.AuditFinished), a.write(wctx, repo.AuditFinished)
}

// write stores phase's record once (IfAbsent), signed, under object lock.
// A bucket without object lock still gets the record, unlocked: the
// listing then reports it as not locked, rather than the restore failing on
// a bucket the immutable-bucket posture already flags.
func (a *auditor) write(ctx context.Context, phase string) error {
	a.rec.Phase = phase
	body, err := json.MarshalIndent(a.rec, "", "  ")
	if err != nil {
		return err
	}
	key := a.key(phase)
	retention, mode := a.opts.Retention, a.opts.Mode
	meta := a.opts.Signer.Sign(key, body, map[string]string{metaAuditResult: a.rec.Result})
	opts := objectstore.PutOptions{IfAbsent: true, Size: int64(len(body)), Metadata: meta, RetainUntil: time.Now().Add(retention), RetentionMode: mode}
	_, err = a.store.Put(ctx, key, bytes.NewReader(body), opts)
	if errors.Is(err, objectstore.ErrNoObjectLock) {
		opts.RetainUntil, opts.RetentionMode = time.Time{}, ""
		_, err = a.store.Put(ctx, key, bytes.NewReader(body), opts)
	}
	if err != nil {
		return fmt.Errorf("writing restore audit record %s: %w", key, err)
	}
	return nil
}

const metaAuditResult = "lifeboat-restore-result"

// auditLock is the retention and mode of l's audit records: the policy's
// declaration and opts (see AuditOptions.Retention).
func auditLock(ctx context.Context, store objectstore.Store, l repo.Layout, opts AuditOptions) (time.Duration, string) {
	retention, mode := opts.Retention, opts.Mode
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	if mode == "" {
		mode = objectstore.ModeCompliance
	}
	// NOTE: a policy that is missing, unreadable or not trusted leaves the
	// defaults: the record is still written, locked as before.
	p, err := repo.ReadPolicy(ctx, store, l, opts.Trust)
	if err != nil || p.AuditRetention == nil || p.AuditRetention.Days <= 0 {
		return retention, mode
	}
	declared := time.Duration(p.AuditRetention.Days) * 24 * time.Hour
	retention = max(declared, opts.Retention)
	if p.AuditRetention.Mode != "" {
		mode = p.AuditRetention.Mode
	}
	return retention, mode
}

// accessKeyID names the credentials of store, when it can tell.
func accessKeyID(ctx context.Context, store objectstore.Store) string {
	if s, ok := store.(interface{ AccessKeyID(context.Context) string }); ok {
		return s.AccessKeyID(ctx)
	}
	return ""
}

// AuditEntry is one restore as its audit records tell it: the finished
// record when there is one, else the started one (Result AuditRunning),
// judged against a set of trusted keys.
type AuditEntry struct {
	Record AuditRecord
	// Keys of the records read (started, finished).
	StartedKey, FinishedKey string
	// SignedBy is the key ID whose signature verified every record read;
	// SignatureError says why one did not (unsigned, unknown signer,
	// forged), nil when all verified.
	SignedBy       string
	SignatureError error
	// Locked reports whether every record read is under an object-lock
	// retention that has not ended (only known for stores that report
	// retention); LockedUntil is the earliest end.
	Locked      bool
	LockedUntil time.Time
	// LaterVersions counts versions and delete markers written over the
	// records after the first: the first, locked version is what is read,
	// but anything on top is a sign of tampering.
	LaterVersions int
	// Inconsistent says how the finished record contradicts the started
	// one (another restore's fields), "" when it does not.
	Inconsistent string
}

// ListAudit reads every restore audit record of layout l, oldest first,
// and verifies each against trust. Records are read at their first
// version, as drill evidence is: object lock keeps that version, and a
// version written later cannot replace what is reported.
func ListAudit(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) ([]AuditEntry, error) {
	type first struct {
		versionID string
		later     int
	}
	originals := map[string]*first{}
	err := store.ListVersions(ctx, l.RestoreAuditDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); !ok || k.Kind != repo.KindRestoreAudit {
			return nil
		}
		// Newest first: each entry supersedes the previous as the first.
		f, seen := originals[o.Key]
		if !seen {
			originals[o.Key] = &first{versionID: o.VersionID}
			if o.DeleteMarker {
				originals[o.Key].versionID = ""
			}
			return nil
		}
		f.later++
		if !o.DeleteMarker {
			f.versionID = o.VersionID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing restore audit records: %w", err)
	}
	byID := map[string]*AuditEntry{}
	var ids []string
	for key, f := range originals {
		k, _ := l.Parse(key)
		e := byID[k.ID]
		if e == nil {
			e = &AuditEntry{Locked: true}
			byID[k.ID] = e
			ids = append(ids, k.ID)
		}
		e.LaterVersions += f.later
		rec, signer, serr, err := readAudit(ctx, store, key, f.versionID, trust)
		if err != nil {
			return nil, err
		}
		if serr != nil && e.SignatureError == nil {
			e.SignatureError = serr
		}
		if serr == nil && e.SignedBy == "" {
			e.SignedBy = signer
		}
		until, locked := lockedUntil(ctx, store, key, f.versionID)
		if !locked {
			e.Locked = false
		} else if e.LockedUntil.IsZero() || until.Before(e.LockedUntil) {
			e.LockedUntil = until
		}
		if k.Phase == repo.AuditFinished {
			e.FinishedKey = key
			if e.StartedKey != "" {
				e.Inconsistent = inconsistent(e.Record, rec)
			}
			e.Record = rec
		} else {
			e.StartedKey = key
			if e.FinishedKey == "" {
				e.Record = rec
			} else {
				e.Inconsistent = inconsistent(rec, e.Record)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	out := make([]AuditEntry, 0, len(ids))
	for _, id := range ids {
		e := byID[id]
		if e.SignatureError != nil {
			e.SignedBy = ""
		}
		if e.Record.ID != id && e.Inconsistent == "" {
			e.Inconsistent = fmt.Sprintf("record says id %q, its key says %q", e.Record.ID, id)
		}
		out = append(out, *e)
	}
	return out, nil
}

// readAudit reads one record's version and judges its signature: serr is
// the signature's verdict, err a failure to read.
func readAudit(ctx context.Context, store objectstore.Store, key, versionID string, trust signature.Trust) (rec AuditRecord, signer string, serr, err error) {
	if versionID == "" {
		return rec, "", &signature.Error{Key: key, Err: signature.ErrUnsigned}, nil
	}
	rc, info, err := store.GetVersion(ctx, key, versionID)
	if err != nil {
		return rec, "", nil, fmt.Errorf("reading restore audit record %s: %w", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return rec, "", nil, fmt.Errorf("reading restore audit record %s: %w", key, err)
	}
	if jerr := json.Unmarshal(body, &rec); jerr != nil {
		serr = fmt.Errorf("%s: not a restore audit record: %w", key, signature.ErrForged)
	}
	s, verr := trust.Signed(key, body, info.Metadata)
	if serr == nil {
		serr = verr
	}
	return rec, s, serr, nil
}

// lockedUntil reports the retention of one version, for stores that can
// tell (the S3 store, the in-memory one).
func lockedUntil(ctx context.Context, store objectstore.Store, key, versionID string) (time.Time, bool) {
	r, ok := store.(interface {
		Retention(ctx context.Context, key, versionID string) (time.Time, string, bool)
	})
	if !ok || versionID == "" {
		return time.Time{}, false
	}
	until, _, has := r.Retention(ctx, key, versionID)
	return until, has && until.After(time.Now())
}

// inconsistent compares the fields a finished record repeats from the
// started one.
func inconsistent(started, finished AuditRecord) string {
	switch {
	case started.ID != finished.ID:
		return "the finished record names another restore"
	case !started.Started.Equal(finished.Started):
		return "the finished record's start differs from the started record's"
	case started.Cluster != finished.Cluster || started.Kind != finished.Kind:
		return "the finished record names another cluster or kind"
	case started.DataDirectory != finished.DataDirectory || started.NewDatabase != finished.NewDatabase:
		return "the finished record names another target"
	}
	return ""
}
