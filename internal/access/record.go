package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// ProbeRecord is an agent's last writer probe with its own credentials,
// stored at repo.Layout.WriterProbeKey: a posture report runs with other
// (auditor) credentials and cannot probe the agent's keys itself.
type ProbeRecord struct {
	Format  int       `json:"format"`
	Holder  string    `json:"holder"`
	Ran     time.Time `json:"ran"`
	Results []Result  `json:"results"`
	// IntervalSeconds is how often the agent probes: a record much older
	// says the agent stopped probing.
	IntervalSeconds float64 `json:"interval_seconds"`
}

// Marshal is the record's stored form (the agent stores it as a
// short-lived record).
func (r ProbeRecord) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// ReadProbeRecord reads the cluster agent's last probe record; nil with no
// error when none was recorded.
func ReadProbeRecord(ctx context.Context, store objectstore.Store, l repo.Layout) (*ProbeRecord, error) {
	key := l.WriterProbeKey()
	rc, _, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the agent's writer probe record: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the agent's writer probe record: %w", err)
	}
	var r ProbeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("writer probe record %s is not valid JSON: %w", key, err)
	}
	return &r, nil
}
