package drill

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// ScheduleDoc is a drill schedule as the provider writes it for the agent
// (<root>/drills/<name>/schedule.json). It holds no secret.
type ScheduleDoc struct {
	Format   int       `json:"format"`
	Name     string    `json:"name"`
	Cluster  string    `json:"cluster"`
	Schedule string    `json:"schedule"`
	Updated  time.Time `json:"updated"`
	// Created is when the schedule was first written (kept by
	// WriteSchedule): no drill is owed for slots before it existed. Zero in
	// documents written before it was recorded.
	Created  time.Time `json:"created"`
	Kind     string    `json:"kind"`
	Database string    `json:"database,omitempty"`
	// ScratchDir is the parent of cluster drills' throw-away directories.
	ScratchDir string `json:"scratch_dir,omitempty"`
	// AttachmentsBucket/AttachmentsPrefix locate a tenant's attachments.
	AttachmentsBucket string  `json:"attachments_bucket,omitempty"`
	AttachmentsPrefix string  `json:"attachments_prefix,omitempty"`
	Checks            []Check `json:"checks"`
	RTOTargetSeconds  float64 `json:"rto_target_seconds,omitempty"`
	EvidenceDays      int     `json:"evidence_retention_days"`
	// RedisInstance, RedisMinKeys and RedisRPOSeconds are a redis drill's
	// (RedisSpec; a zero RPO takes the instance's snapshot schedule's).
	RedisInstance   string  `json:"redis_instance,omitempty"`
	RedisMinKeys    int64   `json:"redis_min_keys,omitempty"`
	RedisRPOSeconds float64 `json:"redis_rpo_seconds,omitempty"`
	// Region is a region drill's recovery region (its name, the
	// destination bucket).
	Region string `json:"region,omitempty"`
	// Target is where each drill's restore stops (nil: the newest point).
	Target *Target `json:"target,omitempty"`
}

// WriteSchedule stores d, replacing the previous version, signed by signer
// (nil: unsigned; agents that trust a key then refuse it). Created is kept
// from the stored document, or set now for a new schedule.
func WriteSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, d ScheduleDoc, signer *signature.Signer) error {
	d.Format = 1
	created, err := repo.KeepCreated(ctx, store, l.DrillScheduleKey(d.Name), "drill schedule "+d.Name, d.Created,
		func(prev *ScheduleDoc) time.Time { return prev.Created })
	if err != nil {
		return err
	}
	d.Created = created
	return repo.WriteSigned(ctx, store, l.DrillScheduleKey(d.Name), "drill schedule "+d.Name, d, signer, objectstore.PutOptions{})
}

// ReadSchedule reads one schedule; a missing one wraps objectstore.ErrNotFound.
// When trust holds a key, a schedule without a valid signature of one of
// its keys is refused with a *signature.Error.
func ReadSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*ScheduleDoc, error) {
	return repo.ReadTrusted[ScheduleDoc](ctx, store, l.DrillScheduleKey(name), "drill schedule "+name, trust)
}

// ReadScheduleSigned reads one schedule and reports which key of trust
// signed it ("" when unsigned, forged or signed by another key), without
// refusing it.
func ReadScheduleSigned(ctx context.Context, store objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*ScheduleDoc, string, error) {
	key := l.DrillScheduleKey(name)
	d, body, meta, err := repo.ReadDoc[ScheduleDoc](ctx, store, key, "drill schedule "+name)
	if err != nil {
		return nil, "", err
	}
	signer, _ := trust.Signed(key, body, meta)
	return d, signer, nil
}

// DeleteSchedule removes a schedule; its evidence stays (it is locked).
func DeleteSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, name string) error {
	return store.Delete(ctx, l.DrillScheduleKey(name))
}

// ListSchedules reads every drill schedule of the cluster, each checked
// against trust as ReadSchedule does. A schedule refused by trust is left
// out and its error returned in refused, so one forged schedule does not
// stop the others.
func ListSchedules(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) (docs []ScheduleDoc, refused []error, err error) {
	return repo.ListTrusted(ctx, store, l, l.DrillsDir(), repo.KindDrillSchedule,
		func(k repo.Key) string { return k.Drill },
		func(n string) (*ScheduleDoc, error) { return ReadSchedule(ctx, store, l, n, trust) })
}

// Spec turns the document into a runnable drill. The agent supplies what
// the document cannot hold: its own repository access (also used for the
// attachments bucket), its binary for restore_command, and for tenant
// drills the server that receives the scratch database.
func (d ScheduleDoc) Spec(store func(bucket string) objectstore.Store, layout repo.Layout, agentCfg repo.AgentConfig, agentPath, targetDSN string) Spec {
	s := Spec{
		Schedule: d.Name, Layout: layout, Kind: d.Kind, Database: d.Database, ScratchDir: d.ScratchDir,
		TargetDSN: targetDSN, AgentPath: agentPath, AgentConfig: agentCfg, Checks: d.Checks, Target: d.Target,
		RTOTarget:         time.Duration(d.RTOTargetSeconds * float64(time.Second)),
		EvidenceRetention: time.Duration(d.EvidenceDays) * 24 * time.Hour,
		Redis: RedisSpec{Instance: d.RedisInstance, MinKeys: d.RedisMinKeys,
			RPO: time.Duration(d.RedisRPOSeconds * float64(time.Second))},
		Region: RegionSpec{Name: d.Region},
	}
	if d.AttachmentsBucket != "" && store != nil {
		s.Attachments = &restore.AttachmentOptions{Store: store(d.AttachmentsBucket), SourcePrefix: d.AttachmentsPrefix}
	}
	return s
}
