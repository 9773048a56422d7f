package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// Job names of the agent's scheduled jobs whose records others read. The
// agent writes the records; the provider and the posture engine read them,
// so the record lives here, below both, instead of in the agent.
const (
	// JobBackup is the policy's scheduled backup (base backup, then the
	// tenant dumps).
	JobBackup = "backup"
	// JobVerify is the policy's scheduled verification.
	JobVerify = "verify"
)

// Results of a job run.
const (
	JobSuccess = "success"
	JobFailure = "failure"
)

// JobRun is the record of a job's last run of a slot
// (<root>/jobs/<job>/last.json).
type JobRun struct {
	Job    string    `json:"job"`
	Slot   time.Time `json:"slot"`
	Result string    `json:"result"`
	// Attempts counts the runs of this slot (failures are retried).
	Attempts int       `json:"attempts"`
	Holder   string    `json:"holder"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Error    string    `json:"error,omitempty"`
	// Final marks a failure not to retry within the slot (a drill that
	// ran and failed: its evidence is the answer).
	Final bool `json:"final,omitempty"`
	// Output names what the run produced (backup id, drill evidence id).
	Output string `json:"output,omitempty"`
	// TenantFailures names the tenant databases whose dump failed in this
	// run, with the error (the backup job; every other tenant was dumped).
	TenantFailures map[string]string `json:"tenant_failures,omitempty"`
	// Request is the "backup now" request this run served (the backup job
	// only): a request counts for the slot it ran in, and an agent taking
	// over the request after its first holder lost its claim finds its
	// backup here instead of taking another one.
	Request string `json:"request,omitempty"`
}

// ReadJobRun reads the last run of job; nil with no error when there is
// none.
func ReadJobRun(ctx context.Context, store objectstore.Store, l Layout, job string) (*JobRun, error) {
	rc, _, err := store.Get(ctx, l.JobRecordKey(job))
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading last run of %s: %w", job, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading last run of %s: %w", job, err)
	}
	var r JobRun
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("last run of %s (%s) is not valid JSON: %w", job, l.JobRecordKey(job), err)
	}
	return &r, nil
}
