// Package drill runs restore drills: a restore of the newest (or a chosen)
// recovery point into an isolated scratch target, the checks a platform
// relies on, and the achieved RTO; then the target is torn down and a JSON
// evidence record is written under object lock, so an audit can trust it.
//
// Drill schedules live in the repository (<root>/drills/<name>/schedule.json),
// written by the provider's lifeboat_drill_schedule and run by `lifeboat
// agent`; evidence goes to <root>/drills/<name>/evidence/<id>.json.
package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/version"
)

// Check kinds: a drill's checks are the restore engine's.
const (
	CheckSQL           = restore.CheckSQL
	CheckRowCountFloor = restore.CheckRowCountFloor
	CheckAttachments   = restore.CheckAttachments
	CheckRPO           = restore.CheckRPO
)

// Check is one assertion on the restored copy (restore.Check: the drill
// and lifeboat_restore evaluate checks the same way).
type Check = restore.Check

// CheckResult is one check's outcome.
type CheckResult = restore.CheckResult

// Spec is one runnable drill.
type Spec struct {
	Schedule string      // the schedule's name
	Layout   repo.Layout // the cluster's repository
	// Kind is "cluster", "tenant" or "redis"; Database the tenant database.
	Kind     string
	Database string
	// BackupID restores a chosen backup; "" = the newest recovery point.
	BackupID string
	// Target is where the restore stops (nil: the newest point).
	Target *Target
	// ScratchDir is the parent of the throw-away data directory (cluster
	// drills and the tenant PITR scratch copy); "" = the system temp dir.
	ScratchDir string
	// Port for a cluster drill's server; 0 = a free one.
	Port int
	// TargetDSN is the server that receives a tenant drill's scratch database.
	TargetDSN   string
	BinDir      string
	OSUser      string
	AgentPath   string
	AgentConfig repo.AgentConfig
	// Attachments locate the tenant's attachment objects (tenant drills).
	Attachments *restore.AttachmentOptions
	// ReadStore, when set, is what the drill's restore reads the
	// repository with (a restorer's read-only credentials); the store Run
	// is given then only writes the audit records and the evidence.
	ReadStore objectstore.Store
	Checks    []Check
	RTOTarget time.Duration
	// EvidenceRetention is how long evidence stays under COMPLIANCE lock.
	EvidenceRetention time.Duration
	// Redis is what a redis drill restores and checks (KindRedis).
	Redis RedisSpec
	// Region is what a region drill activates (KindRegion).
	Region RegionSpec
	// Signer signs the evidence (nil: unsigned), so a reader that trusts
	// its key can tell the agent's record from one a writer of the bucket
	// forged.
	Signer *signature.Signer
	// Trust verifies the policy that declares how long the drill's restore
	// audit records are locked (restore.AuditOptions.Trust): the agent's
	// trusted_keys, so a policy.json a writer of the bucket forged cannot
	// shorten or weaken the lock.
	Trust signature.Trust
}

// Evidence is the record of one drill.
type Evidence struct {
	Format   int    `json:"format"`
	ID       string `json:"id"`
	Schedule string `json:"schedule"`
	Cluster  string `json:"cluster"`
	Kind     string `json:"kind"`
	Database string `json:"database,omitempty"`
	Source   string `json:"source"`
	// Target is where the drill's restore was asked to stop ("": the
	// newest point).
	Target           string        `json:"target,omitempty"`
	RestoredToTime   time.Time     `json:"restored_to_time"`
	RestoredToLSN    string        `json:"restored_to_lsn,omitempty"`
	Started          time.Time     `json:"started"`
	Finished         time.Time     `json:"finished"`
	RTOSeconds       float64       `json:"rto_seconds"`
	RTOTargetSeconds float64       `json:"rto_target_seconds,omitempty"`
	RTOMet           bool          `json:"rto_met"`
	Passed           bool          `json:"passed"`
	Error            string        `json:"error,omitempty"`
	Checks           []CheckResult `json:"checks"`
	// Groups are a region drill's activation groups, in order, each with
	// the RTO it achieved against its target.
	Groups       []GroupResult `json:"groups,omitempty"`
	AgentVersion string        `json:"agent_version"`
	Host         string        `json:"host"`
	// Key is where the evidence is stored (not part of the stored JSON).
	Key string `json:"-"`
	// LaterVersions counts versions and delete markers written over this
	// evidence after the drill wrote it (not part of the stored JSON): the
	// evidence read is always the first, locked version, but anything
	// written over it is a sign of tampering worth reporting.
	LaterVersions int `json:"-"`

	// body and meta are the stored bytes and metadata, for SignedBy.
	body []byte
	meta map[string]string
	// versionID is the version body was read at (the first one).
	versionID string
}

// SignedBy verifies the evidence's signature against trust: the signer's
// key ID, or a *signature.Error (unsigned, unknown signer, forged).
func (e *Evidence) SignedBy(trust signature.Trust) (string, error) {
	return trust.Signed(e.Key, e.body, e.meta)
}

// FailedChecks names the checks that failed, with what they observed.
func (e *Evidence) FailedChecks() []string {
	var out []string
	for _, c := range e.Checks {
		if !c.Passed {
			out = append(out, fmt.Sprintf("%s: expected %s, observed %s%s", c.Name, c.Expected, c.Observed, suffix(c.Detail)))
		}
	}
	return out
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// Run performs the drill and writes its evidence, passed or not. It
// returns an error only when the evidence could not be written; a failed
// restore or check is a drill that did not pass (Evidence.Passed false).
// The scratch target is always torn down.
func Run(ctx context.Context, store objectstore.Store, spec Spec) (*Evidence, error) {
	host, _ := os.Hostname()
	ev := &Evidence{
		Format: 1, Schedule: spec.Schedule, Cluster: spec.Layout.Cluster, Kind: spec.Kind, Database: spec.Database,
		Started: time.Now().UTC(), AgentVersion: version.Version, Host: host, RTOTargetSeconds: spec.RTOTarget.Seconds(),
		Target: spec.Target.String(),
	}
	ev.ID = newEvidenceID(ev.Started)
	err := run(ctx, store, spec, ev)
	ev.Finished = time.Now().UTC()
	if err != nil {
		ev.Error = err.Error()
	}
	ev.RTOMet = spec.RTOTarget == 0 || (ev.RTOSeconds > 0 && ev.RTOSeconds <= spec.RTOTarget.Seconds())
	for _, g := range ev.Groups {
		ev.RTOMet = ev.RTOMet && g.RTOMet
	}
	ev.Passed = err == nil && restore.AllPassed(ev.Checks) && ev.RTOMet
	if werr := writeEvidence(ctx, store, spec, ev); werr != nil {
		return ev, werr
	}
	return ev, nil
}

// run restores, checks and tears down, filling ev. The RTO is measured from
// the start to the moment every check has been evaluated.
func run(ctx context.Context, store objectstore.Store, spec Spec, ev *Evidence) error {
	req := restore.Request{
		Kind: restore.Kind(spec.Kind), Layout: spec.Layout, BackupID: spec.BackupID, BinDir: spec.BinDir, OSUser: spec.OSUser,
		AgentPath: spec.AgentPath, AgentConfig: spec.AgentConfig, Checks: spec.Checks,
		// The drill's restore is audited like any other, signed with the
		// key that signs its evidence.
		Audit: restore.AuditOptions{Signer: spec.Signer, FrontEnd: restore.FrontEndDrill, Actor: "drill " + spec.Schedule + " " + ev.ID,
			Retention: spec.EvidenceRetention, Trust: spec.Trust},
	}
	switch spec.Kind {
	case KindRedis, KindRegion:
		if spec.Target != nil {
			return fmt.Errorf("%w: a %s drill has no recovery target", ErrInvalidTarget, spec.Kind)
		}
	}
	switch spec.Kind {
	case KindRedis:
		return runRedis(ctx, store, spec, ev)
	case KindRegion:
		return runRegion(ctx, store, spec, ev)
	}
	if err := spec.Target.Validate(); err != nil {
		return err
	}
	spec.Target.apply(&req, ev.Started)
	switch req.Kind {
	case restore.KindCluster:
		scratchParent := spec.ScratchDir
		if scratchParent == "" {
			scratchParent = os.TempDir()
		}
		dir, err := os.MkdirTemp(scratchParent, "lifeboat-drill-")
		if err != nil {
			return err
		}
		// NOTE: MkdirTemp makes 0700; PostgreSQL's account must enter it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		// Kept running until Teardown: stopping it is not part of the RTO.
		req.DataDir, req.Port, req.KeepRunning = filepath.Join(dir, "data"), spec.Port, true
		if req.Port == 0 {
			if req.Port, err = restore.FreePort(); err != nil {
				return err
			}
		}
	case restore.KindTenant:
		req.Database, req.TargetDSN = spec.Database, spec.TargetDSN
		req.NewDatabase = ScratchDatabase(spec.Database, ev.ID)
		if spec.Attachments != nil {
			a := *spec.Attachments
			a.TargetPrefix = "lifeboat-drills/" + req.NewDatabase + "/"
			req.Attachments = &a
		}
	default:
		return fmt.Errorf("unknown drill kind %q: want cluster, tenant, redis or region", spec.Kind)
	}
	// The scratch copy goes whatever happens (a failed restore leaves
	// nothing Teardown minds). NOTE: a copy that cannot be removed does not
	// change the drill's verdict; the next drill's scratch name differs.
	defer func() { _ = restore.Teardown(context.WithoutCancel(ctx), req) }()
	if spec.ReadStore != nil {
		req.Audit.Store = store
		store = spec.ReadStore
	}
	out, err := restore.Restore(ctx, store, req)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ev.Source = out.Source.String()
	ev.RestoredToTime, ev.RestoredToLSN = out.RestoredToTime, out.RestoredToLSN
	ev.Checks = out.Checks
	ev.RTOSeconds = time.Since(ev.Started).Seconds()
	return nil
}

// newEvidenceID names one drill run: its start time, so evidence lists by
// date, and a random suffix, because two runs of one schedule can start in
// the same second (the agent's scheduled slot and a drill requested on
// apply, or two hosts) and evidence is written once: the second would fail
// on the first's key.
func newEvidenceID(started time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return started.Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// maxScratchDatabase is the longest name restore.RestoreTenant accepts for
// a new database (it derives a temporary name from it, and PostgreSQL
// names hold at most 63 bytes).
const maxScratchDatabase = 40

// ScratchDatabase names the scratch database of a tenant drill of db:
// "<db>_drill_<evidence id>" when that fits, else the first bytes of db, a
// hash of the whole name (so two long names sharing a beginning never
// collide) and the evidence id. Any name PostgreSQL accepts for db gives a
// name RestoreTenant accepts.
func ScratchDatabase(db, evidenceID string) string {
	tail := "_drill_" + strings.ToLower(strings.ReplaceAll(evidenceID, "-", "_"))
	if len(db)+len(tail) <= maxScratchDatabase {
		return db + tail
	}
	sum := sha256.Sum256([]byte(db))
	hash := "_" + hex.EncodeToString(sum[:4])
	keep := max(maxScratchDatabase-len(tail)-len(hash), 0)
	head := db[:min(keep, len(db))]
	// NOTE: never cut a multi-byte character in two: the name must stay
	// valid UTF-8 for the server's encoding.
	for len(head) > 0 && !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	return head + hash + tail
}

// writeEvidence stores the record under COMPLIANCE object lock, with a
// conditional put: evidence is written once and can be neither deleted nor
// overwritten until its retention ends.
func writeEvidence(ctx context.Context, store objectstore.Store, spec Spec, ev *Evidence) error {
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	retention := spec.EvidenceRetention
	if retention <= 0 {
		retention = 365 * 24 * time.Hour
	}
	ev.Key = spec.Layout.DrillEvidenceKey(spec.Schedule, ev.ID)
	_, err = store.Put(context.WithoutCancel(ctx), ev.Key, bytes.NewReader(b), objectstore.PutOptions{
		IfAbsent: true, Size: int64(len(b)), RetainUntil: time.Now().Add(retention),
		Metadata: spec.Signer.Sign(ev.Key, b, map[string]string{"lifeboat-drill-passed": fmt.Sprint(ev.Passed)}),
	})
	if err != nil {
		return fmt.Errorf("writing drill evidence %s: %w", ev.Key, err)
	}
	return nil
}

// List reads a schedule's evidence, oldest first.
func List(ctx context.Context, store objectstore.Store, l repo.Layout, schedule string) ([]*Evidence, error) {
	originals, err := evidenceOriginals(ctx, store, l, schedule)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(originals))
	for k := range originals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*Evidence
	for _, k := range keys {
		ev, err := readEvidence(ctx, store, originals[k])
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Latest reads a schedule's newest evidence; none wraps objectstore.ErrNotFound.
func Latest(ctx context.Context, store objectstore.Store, l repo.Layout, schedule string) (*Evidence, error) {
	originals, err := evidenceOriginals(ctx, store, l, schedule)
	if err != nil {
		return nil, err
	}
	var last string
	for k := range originals {
		if k > last {
			last = k
		}
	}
	if last == "" {
		return nil, fmt.Errorf("no drill evidence for %q: %w", schedule, objectstore.ErrNotFound)
	}
	return readEvidence(ctx, store, originals[last])
}

// Read reads the evidence at key of schedule, at its first version (as
// Latest does): the record one run wrote, for a caller that knows which run
// it asked for, when other runs of the schedule may have finished since.
func Read(ctx context.Context, store objectstore.Store, l repo.Layout, schedule, key string) (*Evidence, error) {
	originals, err := evidenceOriginals(ctx, store, l, schedule)
	if err != nil {
		return nil, err
	}
	v, ok := originals[key]
	if !ok {
		return nil, fmt.Errorf("drill evidence %s of %q: %w", key, schedule, objectstore.ErrNotFound)
	}
	return readEvidence(ctx, store, v)
}

// evidenceVersion is the first version of an evidence object, the one
// written by the drill and locked, and how many came after it.
type evidenceVersion struct {
	key, versionID string
	later          int
}

// evidenceOriginals finds the first version of every evidence object of
// schedule. Object lock keeps that version from being altered or deleted, but
// not from being shadowed: a later put or delete marker on the same key
// would change what a plain read returns. Evidence is therefore always read
// at its first version, and the versions written after it are reported
// (Evidence.LaterVersions).
func evidenceOriginals(ctx context.Context, store objectstore.Store, l repo.Layout, schedule string) (map[string]evidenceVersion, error) {
	out := map[string]evidenceVersion{}
	err := store.ListVersions(ctx, l.DrillEvidenceDir(schedule), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); !ok || k.Kind != repo.KindDrillEvidence || k.Drill != schedule {
			return nil
		}
		// Newest first: each entry supersedes the previous as "first".
		prev, seen := out[o.Key]
		later := 0
		if seen {
			later = prev.later + 1
		}
		if o.DeleteMarker {
			out[o.Key] = evidenceVersion{key: o.Key, versionID: prev.versionID, later: later}
			return nil
		}
		out[o.Key] = evidenceVersion{key: o.Key, versionID: o.VersionID, later: later}
		return nil
	})
	for k, v := range out {
		if v.versionID == "" { // only delete markers: nothing to read
			delete(out, k)
		}
	}
	return out, err
}

func readEvidence(ctx context.Context, store objectstore.Store, v evidenceVersion) (*Evidence, error) {
	rc, info, err := store.GetVersion(ctx, v.key, v.versionID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil {
		return nil, err
	}
	var ev Evidence
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("evidence %s: %w", v.key, err)
	}
	ev.Key = v.key
	ev.LaterVersions = v.later
	ev.body, ev.meta, ev.versionID = b, info.Metadata, v.versionID
	return &ev, nil
}
