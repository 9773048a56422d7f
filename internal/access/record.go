package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// ProbeRecord is an agent's last probe of credentials it holds: its own
// writer keys (stored at repo.Layout.WriterProbeKey), or a recovery
// region's copy keys (at repo.Layout.RegionCopyProbeKey). A posture report
// runs with other (auditor) credentials and cannot probe those keys
// itself. The agent signs the record with its signing key.
type ProbeRecord struct {
	Format  int       `json:"format"`
	Holder  string    `json:"holder"`
	Ran     time.Time `json:"ran"`
	Results []Result  `json:"results"`
	// IntervalSeconds is how often the agent probes: a record much older
	// says the agent stopped probing.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Role is the role the probed keys should have ("" is a writer's).
	Role Role `json:"role,omitempty"`
	// Region and Destination name the recovery region whose copy keys
	// were probed, and its bucket ("s3://<bucket>").
	Region      string `json:"region,omitempty"`
	Destination string `json:"destination,omitempty"`

	// Signer is the trusted key that signed the record as read ("" when
	// unsigned or not signed by a trusted key; SignatureErr says why).
	Signer       string `json:"-"`
	SignatureErr error  `json:"-"`
}

// Marshal is the record's stored form (the agent stores it as a
// short-lived record).
func (r ProbeRecord) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// ReadProbeRecord reads the cluster agent's last writer probe record,
// with who signed it judged against trust; nil with no error when none
// was recorded.
func ReadProbeRecord(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) (*ProbeRecord, error) {
	return readProbeRecord(ctx, store, l.WriterProbeKey(), "the agent's writer probe record", trust)
}

// ReadCopyProbeRecord reads the last probe of recovery region name's copy
// keys the copying agent recorded in the (primary) repository of l, as
// ReadProbeRecord does.
func ReadCopyProbeRecord(ctx context.Context, store objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*ProbeRecord, error) {
	return readProbeRecord(ctx, store, l.RegionCopyProbeKey(name), "recovery region "+name+"'s copy probe record", trust)
}

func readProbeRecord(ctx context.Context, store objectstore.Store, key, what string, trust signature.Trust) (*ProbeRecord, error) {
	r, body, meta, err := repo.ReadDoc[ProbeRecord](ctx, store, key, what+" "+key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	r.Signer, r.SignatureErr = trust.Signed(key, body, meta)
	return r, nil
}
