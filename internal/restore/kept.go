package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// KeptPlanTTL is how long PlanKept names the recovery point an earlier
// plan of the same restore named: long enough for a plan reviewed over a
// weekend to apply.
const KeptPlanTTL = 7 * 24 * time.Hour

// keptPlan is the object PlanKept keeps in the repository.
type keptPlan struct {
	Format  int       `json:"format"`
	Source  string    `json:"source,omitempty"`
	Planned time.Time `json:"planned"`
	// Forensics is what KeptForensics listed, as the plan showed it.
	Forensics *KeptForensicReport `json:"forensics,omitempty"`
}

// PlanKept is PlanRestore for a plan that is reviewed first and applied
// later, possibly after a newer backup finished (`terraform plan -out`,
// then `terraform apply` of that plan).
//
// GOTCHA: Terraform plans every change again when it applies a saved plan,
// and fails the apply if the second plan names anything the first did not;
// the provider is not shown the first plan. A restore to latest chooses the
// newest backup, so a backup finished in between would change the second
// plan. PlanKept therefore keeps the source it chose in the repository
// (under a digest of the restore's definition) and, for KeptPlanTTL, plans
// the same restore from that source again while it is still usable; the
// restore still replays WAL to the newest segment there is when it runs.
// ReleaseKept forgets it once the restore is done. A point in time, a
// chosen backup or a given Source choose the same source every time: they
// are planned without keeping anything.
//
// When the source cannot be kept (a read-only credential, say), the plan
// is still returned, with RecoveryPlan.NotKept saying why. The kept source
// is read and written through req.Audit.Store when set (the credentials
// that record the restore), so a restore that reads with restorer
// credentials never writes with them.
func PlanKept(ctx context.Context, store objectstore.Store, req Request) (*RecoveryPlan, error) {
	// NOTE: a restore as of NotAfter sees a repository that no longer
	// changes: it names the same source every time.
	if !req.Source.IsZero() || req.BackupID != "" || !req.Target.IsZero() || !req.Point.IsZero() || !req.NotAfter.IsZero() {
		return PlanRestore(ctx, store, req)
	}
	records := req.recordStore(store)
	key := req.Layout.RestorePlanKey(req.identity())
	if k, err := readKept(ctx, records, key); err == nil && time.Since(k.Planned) < KeptPlanTTL {
		if src, err := ParseSource(k.Source); err == nil {
			again := req
			again.Source = src
			if p, err := PlanRestore(ctx, store, again); err == nil {
				return p, nil
			}
			// The kept backup is gone (pruned) or no longer usable: the
			// restore is planned afresh.
		}
	}
	p, err := PlanRestore(ctx, store, req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(keptPlan{Format: 1, Source: p.Source.String(), Planned: time.Now().UTC()})
	if err == nil {
		_, err = records.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))})
	}
	if err != nil {
		p.NotKept = fmt.Errorf("keeping the planned recovery point at %s: %w", key, err)
	}
	return p, nil
}

// ReleaseKept forgets the source PlanKept kept for req (the restore it was
// planned for is done), so the next plan of it chooses the newest backup
// again. Nothing kept is success.
func ReleaseKept(ctx context.Context, store objectstore.Store, req Request) error {
	return req.recordStore(store).Delete(ctx, req.Layout.RestorePlanKey(req.identity()))
}

func readKept(ctx context.Context, store objectstore.Store, key string) (*keptPlan, error) {
	rc, _, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return nil, err
	}
	var k keptPlan
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("kept restore plan %s: %w", key, err)
	}
	return &k, nil
}

// identity is a digest of what defines a restore (never its credentials):
// two plans of the same restore share it, two different restores do not.
func (r *Request) identity() string {
	h := sha256.New()
	for _, v := range []string{string(r.Kind), r.Layout.Root(), r.Target.UTC().Format(time.RFC3339Nano), r.TargetTimeline, r.BackupID,
		r.DataDir, strconv.Itoa(r.Port), r.Database, r.NewDatabase} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	// NOTE: only when set, so the digest of every other restore (and what
	// earlier plans kept under it) stays as it was.
	if !r.NotAfter.IsZero() {
		h.Write([]byte("not_after=" + r.NotAfter.UTC().Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// recordStore writes what a restore records (audit records, kept plans):
// req.Audit.Store, or the store it reads.
func (r *Request) recordStore(store objectstore.Store) objectstore.Store {
	if r.Audit.Store != nil {
		return r.Audit.Store
	}
	return store
}

// KeptForensicReport is the forensic context a clean-room plan showed:
// the summary and the listed changes, as of Listed.
type KeptForensicReport struct {
	Listed  time.Time `json:"listed"`
	Summary string    `json:"summary"`
	Lines   []string  `json:"lines"`
	Changes int       `json:"changes"`
	// Fresh is this plan's own listing (never kept): it may hold changes
	// made after Listed. NotKept says why the report could not be kept,
	// in which case the plan must not show it as final.
	Fresh   *ForensicReport `json:"-"`
	NotKept error           `json:"-"`
}

// KeptForensics is Forensics since req.NotAfter for a plan that is
// reviewed first and applied later: the same restore planned again (as
// Terraform does when it applies a saved plan) gets exactly the report the
// first plan listed, even though an attacker still holding the writer's
// keys keeps writing versions and delete markers, or versions expire, in
// between. The report is kept, like PlanKept's source, under the digest
// of the restore's definition (which includes NotAfter) for KeptPlanTTL,
// through req.Audit.Store when set, and ReleaseKept forgets it. Every
// call lists the repository afresh (Fresh), so a caller can say what
// changed since the kept listing. lines bounds Lines.
func KeptForensics(ctx context.Context, store objectstore.Store, req Request, lines int) (*KeptForensicReport, error) {
	if req.NotAfter.IsZero() {
		return nil, fmt.Errorf("%w: forensics need the declared compromise time", ErrCleanRoom)
	}
	fresh, err := Forensics(ctx, store, req.Layout, req.NotAfter)
	if err != nil {
		return nil, err
	}
	records := req.recordStore(store)
	key := req.Layout.RestorePlanKey(req.identity())
	if k, err := readKept(ctx, records, key); err == nil && k.Forensics != nil && time.Since(k.Planned) < KeptPlanTTL {
		out := *k.Forensics
		out.Fresh = fresh
		return &out, nil
	}
	out := &KeptForensicReport{Listed: fresh.Until, Summary: fresh.Summary(), Lines: fresh.Lines(lines), Changes: len(fresh.Changes), Fresh: fresh}
	body, err := json.Marshal(keptPlan{Format: 1, Planned: time.Now().UTC(), Forensics: out})
	if err == nil {
		_, err = records.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))})
	}
	if err != nil {
		out.NotKept = fmt.Errorf("keeping the forensic report at %s: %w", key, err)
	}
	return out, nil
}
