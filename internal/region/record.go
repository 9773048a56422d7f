package region

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

// StatusRecord is what the copying agent records in the PRIMARY repository
// after each pass (repo.Layout.RegionStatusKey). The copy index lives in
// the destination bucket, which a posture report reading the primary
// cannot reach; this small record is how the report judges the region's
// lag.
type StatusRecord struct {
	Format int    `json:"format"`
	Region string `json:"region"`
	// Destination is "s3://<bucket>" at the destination's endpoint.
	Destination string `json:"destination"`
	Endpoint    string `json:"endpoint,omitempty"`
	// Written is when the record was written: a record older than a few
	// copy intervals means the copy stopped.
	Written time.Time `json:"written"`
	// LagSeconds is Status.Lag at Written.
	LagSeconds      float64 `json:"lag_seconds"`
	MaxLagSeconds   float64 `json:"max_lag_seconds"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// LastVerified is when the pass ended having verified everything it
	// listed but the pending objects.
	LastVerified time.Time `json:"last_verified"`
	Status       Status    `json:"status"`

	// Signer is the trusted key that signed the record as read ("" when
	// unsigned or not signed by a trusted key; SignatureErr says why): the
	// agent signs it with its signing key.
	Signer       string `json:"-"`
	SignatureErr error  `json:"-"`
}

// NewStatusRecord builds the record of one pass of doc that ended at now.
func NewStatusRecord(doc ConfigDoc, bucket string, st Status, now time.Time) StatusRecord {
	return StatusRecord{Format: 1, Region: doc.Name, Destination: "s3://" + bucket, Endpoint: doc.Destination.Endpoint,
		Written: now.UTC(), LagSeconds: st.Lag(now).Seconds(), MaxLagSeconds: doc.MaxLagSeconds,
		IntervalSeconds: doc.IntervalSeconds, LastVerified: st.Finished.UTC(), Status: st}
}

// Marshal is the record's stored form. The agent stores it with its
// short-lived record rule (agentd.PutRecord): a record rewritten every pass
// must not be held for a locked bucket's default retention.
func (r StatusRecord) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// ReadStatusRecord reads region name's last recorded pass, with who signed
// it judged against trust; nil with no error when none was recorded.
func ReadStatusRecord(ctx context.Context, store objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*StatusRecord, error) {
	key := l.RegionStatusKey(name)
	r, body, meta, err := repo.ReadDoc[StatusRecord](ctx, store, key, "recovery region "+name+" status "+key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading recovery region %s status: %w", name, err)
	}
	r.Signer, r.SignatureErr = trust.Signed(key, body, meta)
	return r, nil
}
