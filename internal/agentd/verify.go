package agentd

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// VerifyJob is the job name of the policy's scheduled verification.
const VerifyJob = repo.JobVerify

// verifyJob turns the policy's verify_schedule into the scheduled
// verification job; nil when the policy has none.
func (d *Daemon) verifyJob(p *repo.Policy) (*job, error) {
	if p.VerifySchedule == "" {
		return nil, nil
	}
	s, err := d.parseSchedule(p.VerifySchedule)
	if err != nil {
		return nil, fmt.Errorf("verify_schedule: %w", err)
	}
	return &job{name: VerifyJob, sched: s, run: func(ctx context.Context, _ time.Time) (string, error) {
		return d.verify(ctx)
	}}, nil
}

// verify re-reads the newest complete base backup and every WAL segment a
// restore of it would read, against their stored checksums (catalog.Verify).
// A backup that fails its checks is a failed run that is not retried in
// the slot: the report is the answer. One that could not be checked (the
// store unreachable) is retried.
func (d *Daemon) verify(ctx context.Context) (string, error) {
	c := d.layout.Cluster
	cat, err := catalog.LoadPhysical(ctx, d.cfg.Store, d.layout)
	if err != nil {
		return "", fmt.Errorf("listing backups: %w", err)
	}
	if len(cat.Physical) == 0 {
		return "no complete base backup to verify", nil
	}
	id := cat.Physical[len(cat.Physical)-1].ID
	// A writer's host usually holds no identity: an encrypted backup's
	// stored checksums are checked, its content only where an identity is.
	ids, err := d.cfg.Agent.Identities()
	if err != nil {
		return "", err
	}
	rep, err := catalog.VerifyWith(ctx, d.cfg.Store, d.layout, id, ids)
	if err != nil {
		return "", fmt.Errorf("verifying %s: %w", id, err)
	}
	d.m.VerifyLast.WithLabelValues(c).Set(float64(d.cfg.Now().UnixNano()) / 1e9)
	d.m.VerifyProblems.WithLabelValues(c).Set(float64(len(rep.Problems)))
	out := fmt.Sprintf("verified %s: %d objects, WAL %s..%s", id, rep.Objects, rep.WALFrom, rep.WALTo)
	if err := rep.Err(); err != nil {
		d.m.VerifySuccess.WithLabelValues(c).Set(0)
		for _, p := range rep.Problems {
			d.log.Error("verification problem", "job", VerifyJob, "backup", id, "object", p.Object, "reason", p.Reason)
		}
		return out, &FinalError{Err: err}
	}
	d.m.VerifySuccess.WithLabelValues(c).Set(1)
	return out, nil
}
