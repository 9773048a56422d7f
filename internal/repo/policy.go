package repo

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Policy is a backup policy as the provider declares it and the agent
// daemon executes it (<root>/policy.json). It holds no secret: the agent
// authenticates to PostgreSQL with its own configuration.
type Policy struct {
	Format   int       `json:"format"`
	Cluster  string    `json:"cluster"`
	Schedule string    `json:"schedule"`
	Updated  time.Time `json:"updated"`
	// Created is when the policy was first written (kept by WritePolicy):
	// a policy owes no backup for slots before it existed. Zero in
	// policies written before it was recorded.
	Created time.Time `json:"created"`
	// Retention keeps FullCount newest physical backups and/or what a
	// restore to any point of the last Days days needs.
	Retention PolicyRetention `json:"retention"`
	// TenantDatabases are dumped logically with every scheduled backup.
	TenantDatabases []string `json:"tenant_databases,omitempty"`
	// TenantDumpParallelism is how many tenant dumps run at once (0: the
	// agent's default).
	TenantDumpParallelism int `json:"tenant_dump_parallelism,omitempty"`
	// VerifySchedule, when set, is when the agent verifies the newest base
	// backup and the WAL a restore of it reads, by content (cron, UTC).
	VerifySchedule string `json:"verify_schedule,omitempty"`
	// Encryption, when set, is what the agent encrypts the policy's base
	// backups and tenant dumps to (it overrides the agent configuration's,
	// and the policy is signed, so a writer cannot change it).
	Encryption *Encryption `json:"encryption,omitempty"`
	// AuditRetention, when set, is how long every restore's audit record
	// of this cluster stays under object lock (whichever front end ran
	// the restore); unset, restore.DefaultAuditRetention in COMPLIANCE.
	AuditRetention *AuditRetention `json:"audit_retention,omitempty"`
	// Postgres locates the server without credentials.
	Postgres PolicyPostgres `json:"postgres"`
	// Compression is the codec of the base backups the agent takes for
	// this policy (zstd, lz4, none); empty leaves it to the agent
	// configuration. Declared here, it reaches every running agent at its
	// next refresh, with no file to change on the hosts.
	Compression string `json:"compression,omitempty"`
}

// BackupRecipients are what base backups and tenant dumps are encrypted
// to: the policy's encryption when it declares one (the provider signs the
// policy), else the agent configuration's; nil for no encryption. p may be
// nil (no policy).
func BackupRecipients(c AgentConfig, p *Policy) (*crypt.Recipients, error) {
	if p != nil && p.Encryption != nil {
		r, err := p.Encryption.Parse()
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", c.Layout().PolicyKey(), err)
		}
		return r, nil
	}
	return c.Recipients()
}

// AuditRetention is the object lock of audit records.
type AuditRetention struct {
	Mode string `json:"mode"` // objectstore.ModeCompliance or ModeGovernance
	Days int    `json:"days"`
}

// PolicyRetention is a retention rule.
type PolicyRetention struct {
	FullCount int `json:"full_count,omitempty"`
	Days      int `json:"days,omitempty"`
}

// PolicyPostgres locates the server, never with a password.
type PolicyPostgres struct {
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port,omitempty"`
	User    string `json:"user,omitempty"`
	DBName  string `json:"dbname,omitempty"`
	SSLMode string `json:"sslmode,omitempty"`
}

// WritePolicy stores p at l.PolicyKey(), replacing the previous policy,
// signed by signer (nil: unsigned; agents that trust a key then refuse it).
// Created is kept from the stored policy, or set now for a new one.
func WritePolicy(ctx context.Context, store objectstore.Store, l Layout, p Policy, signer *signature.Signer) error {
	p.Format = 1
	created, err := KeepCreated(ctx, store, l.PolicyKey(), "policy", p.Created, func(prev *Policy) time.Time { return prev.Created })
	if err != nil {
		return err
	}
	p.Created = created
	return WriteSigned(ctx, store, l.PolicyKey(), "policy", p, signer, objectstore.PutOptions{})
}

// ReadPolicy reads the cluster's policy; a missing one wraps
// objectstore.ErrNotFound. When trust holds a key, a policy without a valid
// signature of one of its keys is refused with a *signature.Error: whoever
// can write into the bucket cannot reconfigure the agents.
func ReadPolicy(ctx context.Context, store objectstore.Store, l Layout, trust signature.Trust) (*Policy, error) {
	p, body, meta, err := readPolicy(ctx, store, l)
	if err != nil {
		return nil, err
	}
	if err := trust.Check(l.PolicyKey(), body, meta); err != nil {
		return nil, fmt.Errorf("refusing policy: %w", err)
	}
	return p, nil
}

// ReadPolicySigned reads the policy and reports which key of trust signed
// it: a key ID, or "" when it is unsigned, forged or signed by a key trust
// does not hold. It never refuses: the provider's refresh compares the
// signer with its own key and plans a rewrite.
func ReadPolicySigned(ctx context.Context, store objectstore.Store, l Layout, trust signature.Trust) (*Policy, string, error) {
	p, body, meta, err := readPolicy(ctx, store, l)
	if err != nil {
		return nil, "", err
	}
	signer, _ := trust.Signed(l.PolicyKey(), body, meta)
	return p, signer, nil
}

func readPolicy(ctx context.Context, store objectstore.Store, l Layout) (*Policy, []byte, map[string]string, error) {
	p, b, meta, err := ReadDoc[Policy](ctx, store, l.PolicyKey(), "policy "+l.PolicyKey())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading policy: %w", err)
	}
	return p, b, meta, nil
}

// DeletePolicy removes the policy, so agents stop scheduling; backups stay.
func DeletePolicy(ctx context.Context, store objectstore.Store, l Layout) error {
	return store.Delete(ctx, l.PolicyKey())
}
