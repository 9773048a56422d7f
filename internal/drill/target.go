package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// Target is where a drill's restore stops instead of the newest point: a
// time Offset before the drill starts, or one of the restore engine's
// other targets (an LSN, a transaction, a named restore point, the end of
// the base backup). A drill that rehearses "back to before the release" or
// "to one hour ago" proves the recovery the runbook will ask for, not only
// the newest one.
type Target struct {
	// OffsetSeconds: restore to the drill's start minus this.
	OffsetSeconds float64 `json:"offset_seconds,omitempty"`
	LSN           string  `json:"lsn,omitempty"`
	XID           string  `json:"xid,omitempty"`
	RestorePoint  string  `json:"restore_point,omitempty"`
	Immediate     bool    `json:"immediate,omitempty"`
	// Exclusive stops just before LSN, XID or RestorePoint.
	Exclusive bool `json:"exclusive,omitempty"`
}

// ErrInvalidTarget means a target names no recovery target, or more than
// one, or is given to a Redis drill.
var ErrInvalidTarget = errors.New("invalid drill target")

// Validate checks that t names exactly one recovery target.
func (t *Target) Validate() error {
	if t == nil {
		return nil
	}
	n := 0
	for _, set := range []bool{t.OffsetSeconds > 0, t.LSN != "", t.XID != "", t.RestorePoint != "", t.Immediate} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: set exactly one of offset, lsn, xid, restore_point and immediate (%d set)", ErrInvalidTarget, n)
	}
	if t.Exclusive && (t.OffsetSeconds > 0 || t.Immediate) {
		return fmt.Errorf("%w: inclusive = false applies to lsn, xid and restore_point only", ErrInvalidTarget)
	}
	return t.point().Validate()
}

func (t *Target) point() restore.Point {
	return restore.Point{LSN: t.LSN, XID: t.XID, Name: t.RestorePoint, Immediate: t.Immediate, Exclusive: t.Exclusive}
}

// apply sets req's target for a drill starting at started.
func (t *Target) apply(req *restore.Request, started time.Time) {
	if t == nil {
		return
	}
	if t.OffsetSeconds > 0 {
		req.Target = started.Add(-time.Duration(t.OffsetSeconds * float64(time.Second)))
		return
	}
	req.Point = t.point()
}

// String describes the target for evidence and plans ("" for none).
func (t *Target) String() string {
	switch {
	case t == nil:
		return ""
	case t.OffsetSeconds > 0:
		return fmt.Sprintf("%s before the drill's start", time.Duration(t.OffsetSeconds*float64(time.Second)))
	default:
		return t.point().String()
	}
}

// PlanTarget plans the restore a drill of kind (on database, for a tenant
// drill) to t would make now, against the repository's catalog: a target
// the archive does not hold fails as a restore to it would (a
// *restore.TargetError, a *restore.OutsideWindowError). A repository with
// no base backup yet is not judged: a drill schedule is often declared
// before the first backup, and ok is then false.
func PlanTarget(ctx context.Context, store objectstore.Store, l repo.Layout, kind, database string, t *Target, cfg repo.AgentConfig) (ok bool, err error) {
	if t == nil {
		return false, nil
	}
	if err := t.Validate(); err != nil {
		return false, err
	}
	if kind == KindRedis || kind == KindRegion {
		return false, fmt.Errorf("%w: a %s drill has no recovery target", ErrInvalidTarget, kind)
	}
	c, err := catalog.Load(ctx, store, l)
	if errors.Is(err, objectstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(c.Physical) == 0 {
		return false, nil
	}
	req := restore.Request{Kind: restore.Kind(kind), Layout: l, Database: database, AgentConfig: cfg}
	t.apply(&req, time.Now())
	if _, err := restore.PlanRestore(ctx, store, req); err != nil {
		return false, err
	}
	return true, nil
}
