package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Kind is what a request asks the agent to do.
type Kind string

// Request kinds.
const (
	// KindRestore performs a restore (cluster into a data directory on the
	// host and started there, or tenant into a new database, through a
	// scratch cluster on the host when it needs PITR).
	KindRestore Kind = "restore"
	// KindTeardown removes what a KindRestore made: stops the server and
	// deletes the directory, or drops the database and its attachment copies.
	KindTeardown Kind = "teardown"
	// KindDrill runs one drill of a declared drill schedule now.
	KindDrill Kind = "drill"
	// KindBackup takes a backup now, as the signed policy declares it (base
	// backup, tenant dumps, retention): the policy's first backup, taken
	// on the database host rather than where Terraform runs.
	KindBackup Kind = "backup"
)

// Request is a request document (<root>/requests/<id>/request.json). It
// holds no secret: the agent brings its own credentials and connection.
type Request struct {
	Format  int    `json:"format"`
	ID      string `json:"id"`
	Kind    Kind   `json:"kind"`
	Cluster string `json:"cluster"`
	// Agent is the host whose agents may claim it; "" means any agent of
	// the cluster.
	Agent   string    `json:"agent,omitempty"`
	Created time.Time `json:"created"`
	// Restore defines a restore or teardown.
	Restore *RestoreSpec `json:"restore,omitempty"`
	// Drill names the drill schedule of a drill request.
	Drill string `json:"drill,omitempty"`
}

// RestoreSpec is a restore as the request carries it: the fields of
// restore.Request the provider knows; the agent adds its layout,
// credentials, binary and PostgreSQL connection.
type RestoreSpec struct {
	Kind restore.Kind `json:"kind"`
	// PointInTime is the recovery target; zero means latest.
	PointInTime    time.Time `json:"point_in_time,omitempty"`
	BackupID       string    `json:"backup_id,omitempty"`
	TargetTimeline string    `json:"target_timeline,omitempty"`
	// Point is a target other than a time (lsn, xid, restore point,
	// immediate); nil for a time or latest.
	Point *restore.Point `json:"point,omitempty"`
	// Source is the recovery point the reviewed plan named
	// (restore.Source.String()); the agent restores exactly it.
	Source string `json:"source,omitempty"`

	DataDir string `json:"data_directory,omitempty"`
	Port    int    `json:"port,omitempty"`
	BinDir  string `json:"bin_dir,omitempty"`

	Database    string          `json:"database,omitempty"`
	NewDatabase string          `json:"new_database,omitempty"`
	ScratchDir  string          `json:"scratch_directory,omitempty"`
	Attachments *AttachmentSpec `json:"attachments,omitempty"`

	Checks []restore.Check `json:"checks,omitempty"`

	// CleanRoom asks for a clean-room cluster restore: read with the
	// agent's restorer credentials only (an agent without them refuses
	// it), as the repository was at NotAfter when set, listening on
	// ListenAddresses (default the loopback), no archiving, and the
	// superuser given SuperuserVerifier: a SCRAM-SHA-256 verifier, never a
	// password (the provider keeps that in Terraform's state).
	CleanRoom         bool      `json:"clean_room,omitempty"`
	NotAfter          time.Time `json:"not_after,omitzero"`
	ListenAddresses   string    `json:"listen_addresses,omitempty"`
	SuperuserVerifier string    `json:"superuser_verifier,omitempty"`
}

// AttachmentSpec locates a tenant's attachments (restore.AttachmentOptions
// without the store: the agent opens the bucket with its own credentials).
type AttachmentSpec struct {
	Bucket       string `json:"bucket"`
	SourcePrefix string `json:"source_prefix"`
	TargetPrefix string `json:"target_prefix"`
}

// Status is a request's outcome.
type Status string

// Outcomes.
const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	// StatusWithdrawn: the provider gave up before any agent executed it.
	StatusWithdrawn Status = "withdrawn"
	// StatusRefused: the agent would not execute it (unsigned, another
	// cluster's, malformed).
	StatusRefused Status = "refused"
)

// Result is a request's outcome (<root>/requests/<id>/result.json).
type Result struct {
	Request  string    `json:"request"`
	Status   Status    `json:"status"`
	Error    string    `json:"error,omitempty"`
	Host     string    `json:"host,omitempty"`
	Holder   string    `json:"holder,omitempty"`
	Attempt  uint64    `json:"attempt,omitempty"`
	Started  time.Time `json:"started,omitempty"`
	Finished time.Time `json:"finished"`
	// Restore is a restore's outcome; Evidence a drill's evidence key.
	Restore  *RestoreResult `json:"restore,omitempty"`
	Evidence string         `json:"evidence,omitempty"`
	Passed   *bool          `json:"passed,omitempty"`
	// Backup is what a backup request produced ("backup <id>, tenant
	// <db>/<id>, ...").
	Backup string `json:"backup,omitempty"`
	// BackupID is the base backup a backup request took (the provider's
	// last_backup_id after it).
	BackupID string `json:"backup_id,omitempty"`
}

// RestoreResult is what the provider reads into state after a restore.
type RestoreResult struct {
	Source         string                `json:"source"`
	Timeline       uint32                `json:"timeline,omitempty"`
	WALRange       string                `json:"wal_range,omitempty"`
	Started        time.Time             `json:"started"`
	RestoredToTime time.Time             `json:"restored_to_time"`
	RestoredToLSN  string                `json:"restored_to_lsn,omitempty"`
	DurationMS     int64                 `json:"duration_ms"`
	DataDir        string                `json:"data_directory,omitempty"`
	Database       string                `json:"database,omitempty"`
	Checks         []restore.CheckResult `json:"checks,omitempty"`
	Missing        []string              `json:"missing_attachments,omitempty"`
	// Superuser is a clean-room copy's superuser, whose password the
	// request's verifier set.
	Superuser string `json:"superuser,omitempty"`
	// AuditKey is the restore's finished audit record; AuditError why it
	// could not be written.
	AuditKey   string `json:"audit_key,omitempty"`
	AuditError string `json:"audit_error,omitempty"`
}

// Progress is the executing agent's latest report
// (<root>/requests/<id>/progress.json).
type Progress struct {
	Request string    `json:"request"`
	Host    string    `json:"host"`
	Holder  string    `json:"holder"`
	Attempt uint64    `json:"attempt"`
	Seq     int       `json:"seq"`
	Phase   string    `json:"phase"`
	Detail  string    `json:"detail,omitempty"`
	Updated time.Time `json:"updated"`
	// DownloadedBytes and ExtractedBytes of a cluster restore.
	DownloadedBytes int64 `json:"downloaded_bytes,omitempty"`
	ExtractedBytes  int64 `json:"extracted_bytes,omitempty"`
}

// Key is where the request is stated.
func (r *Request) Key(l repo.Layout) string { return l.RequestKey(r.ID) }

// definition is what identifies the work, without id and time: two
// requests with the same definition are the same work.
func (r *Request) digest() string {
	d := *r
	d.ID, d.Created, d.Format = "", time.Time{}, 0
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// idPrefix is "<kind>-<digest>-"; the generation (4+ digits) follows.
func (r *Request) idPrefix() string { return string(r.Kind) + "-" + r.digest() + "-" }

func genID(prefix string, gen int) string { return fmt.Sprintf("%s%04d", prefix, gen) }

// ErrNotFound wraps a request, result or progress that does not exist.
var ErrNotFound = objectstore.ErrNotFound

// Submit states req in the repository, signed by signer (nil: unsigned),
// and returns the stored request: a new generation, or the pending (or
// finished but not acknowledged) request of the same definition, which a
// retried apply then waits for instead of doing the work again. A failed,
// withdrawn, refused or acknowledged request of the same definition is
// replaced by the next generation. reused says which.
func Submit(ctx context.Context, store objectstore.Store, l repo.Layout, req Request, signer *signature.Signer) (stored *Request, reused bool, err error) {
	req.Format = 1
	req.Cluster = l.Cluster
	prefix := req.idPrefix()
	for attempt := 0; attempt < 3; attempt++ {
		gens, err := generations(ctx, store, l, prefix)
		if err != nil {
			return nil, false, err
		}
		next := 1
		if len(gens) > 0 {
			top := gens[len(gens)-1]
			id := genID(prefix, top)
			res, err := ReadResult(ctx, store, l, id)
			switch {
			case errors.Is(err, ErrNotFound):
				r, err := ReadRequest(ctx, store, l, id, signature.Trust{})
				if err != nil {
					return nil, false, err
				}
				return r, true, nil
			case err != nil:
				return nil, false, err
			case res.Status == StatusSucceeded:
				if _, err := store.Head(ctx, l.RequestAckKey(id)); errors.Is(err, objectstore.ErrNotFound) {
					r, err := ReadRequest(ctx, store, l, id, signature.Trust{})
					if err != nil {
						return nil, false, err
					}
					return r, true, nil
				} else if err != nil {
					return nil, false, err
				}
			}
			next = top + 1
		}
		req.ID = genID(prefix, next)
		req.Created = time.Now().UTC()
		b, _ := json.MarshalIndent(req, "", "  ")
		key := l.RequestKey(req.ID)
		_, err = store.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{IfAbsent: true, Size: int64(len(b)), Metadata: signer.Sign(key, b, nil)})
		if errors.Is(err, objectstore.ErrExists) {
			continue // another provider run wrote it first: decide again
		}
		if err != nil {
			return nil, false, fmt.Errorf("writing request %s: %w", key, err)
		}
		return &req, false, nil
	}
	return nil, false, fmt.Errorf("writing request %s*: other writers kept taking the next generation", l.RequestDir(prefix))
}

// generations lists the generations of the requests whose ids start with
// prefix, in order.
func generations(ctx context.Context, store objectstore.Store, l repo.Layout, prefix string) ([]int, error) {
	seen := map[int]bool{}
	err := store.List(ctx, l.RequestsDir()+prefix, func(o objectstore.ObjectInfo) error {
		k, ok := l.Parse(o.Key)
		if !ok || k.Kind != repo.KindRequest {
			return nil
		}
		if g, err := strconv.Atoi(strings.TrimPrefix(k.Request, prefix)); err == nil && strings.HasPrefix(k.Request, prefix) {
			seen[g] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing requests %s*: %w", l.RequestsDir()+prefix, err)
	}
	out := make([]int, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	sort.Ints(out)
	return out, nil
}

// ReadRequest reads request id. When trust holds a key, a request without
// a valid signature of one of them is refused with a *signature.Error.
func ReadRequest(ctx context.Context, store objectstore.Store, l repo.Layout, id string, trust signature.Trust) (*Request, error) {
	key := l.RequestKey(id)
	b, meta, err := get(ctx, store, key)
	if err != nil {
		return nil, err
	}
	if err := trust.Check(key, b, meta); err != nil {
		return nil, fmt.Errorf("refusing request %s: %w", id, err)
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("request %s: %w", key, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("request %s names itself %q", key, r.ID)
	}
	return &r, nil
}

// ReadResult reads request id's result; a missing one wraps ErrNotFound.
func ReadResult(ctx context.Context, store objectstore.Store, l repo.Layout, id string) (*Result, error) {
	var r Result
	return &r, readJSON(ctx, store, l.RequestResultKey(id), &r)
}

// ReadProgress reads request id's progress; a missing one wraps ErrNotFound.
func ReadProgress(ctx context.Context, store objectstore.Store, l repo.Layout, id string) (*Progress, error) {
	var p Progress
	return &p, readJSON(ctx, store, l.RequestProgressKey(id), &p)
}

// writeResult records res once: a result already there wraps
// objectstore.ErrExists and is left as it is.
func writeResult(ctx context.Context, store objectstore.Store, l repo.Layout, res Result) error {
	b, _ := json.MarshalIndent(res, "", "  ")
	key := l.RequestResultKey(res.Request)
	if _, err := store.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{IfAbsent: true, Size: int64(len(b))}); err != nil {
		return fmt.Errorf("writing result %s: %w", key, err)
	}
	return nil
}

// Ack records that the provider read request id's result into its state:
// the same definition submitted again is new work.
func Ack(ctx context.Context, store objectstore.Store, l repo.Layout, id string) error {
	b := []byte(fmt.Sprintf("{\"request\": %q, \"acknowledged\": %q}\n", id, time.Now().UTC().Format(time.RFC3339)))
	key := l.RequestAckKey(id)
	if _, err := store.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	return nil
}

func get(ctx context.Context, store objectstore.Store, key string) ([]byte, map[string]string, error) {
	rc, info, err := store.Get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return b, info.Metadata, nil
}

func readJSON(ctx context.Context, store objectstore.Store, key string, v any) error {
	b, _, err := get(ctx, store, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
