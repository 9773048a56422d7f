package posture

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Observation is everything the controls judge, read once.
type Observation struct {
	Bucket, Prefix string
	Now            time.Time
	// BucketState is the bucket's posture; nil with BucketErr when it
	// could not be read.
	BucketState *objectstore.BucketState
	BucketErr   error
	// Probe is a writer probe's outcome; nil when none was run.
	Probe *access.Report
	// ProbeRecords are the clusters' agents' own writer probes, read when
	// no Probe was run by the report (it runs with other credentials).
	ProbeRecords []ProbeRecordObservation
	// Clusters are the clusters observed, in the order asked.
	Clusters []ClusterObservation
}

// ClusterObservation is what was read of one cluster's repository.
type ClusterObservation struct {
	Cluster string
	Layout  repo.Layout

	Catalog    *catalog.Catalog
	CatalogErr error
	Window     *catalog.Window
	WindowErr  error
	// NewestWALKey is the key of the window's newest archived segment
	// ("": none, or NewestWALErr): its name says whether it is encrypted.
	NewestWALKey string
	NewestWALErr error
	// LatestWALKey is the key of the window's last segment of the
	// unbroken run (the restorable window's end): the evidence an auditor
	// fetches ("": not found).
	LatestWALKey string

	// Policy is policy.json (nil with PolicyErr wrapping
	// objectstore.ErrNotFound when there is none); PolicyObject is its
	// current version and PolicySigner the trusted key that signed it ("":
	// unsigned or not trusted).
	Policy       *repo.Policy
	PolicyObject objectstore.ObjectInfo
	PolicySigner string
	PolicyErr    error

	// VerifyRun is the agent's record of its last scheduled verification
	// (nil: none recorded).
	VerifyRun *repo.JobRun
	VerifyErr error
	// BackupRun is the agent's record of its last scheduled backup (nil:
	// none recorded).
	BackupRun    *repo.JobRun
	BackupRunErr error

	Drills    []DrillObservation
	DrillsErr error

	// Redis are the cluster's Redis snapshot schedules, each with its
	// newest snapshot (RedisErr: the schedules could not be listed).
	Redis    []RedisObservation
	RedisErr error

	// Regions are the cluster's recovery regions, each with the copying
	// agent's last status record (RegionsErr: they could not be listed).
	Regions    []RegionObservation
	RegionsErr error

	// Agents are the heartbeats the cluster's agents published.
	Agents    []repo.Heartbeat
	AgentsErr error

	// Archive is PostgreSQL's archiver; nil when no server was given.
	Archive *ArchiveObservation
	// Replication is the server's standbys (pg_stat_replication) and
	// whether it is itself one; nil when no server was given.
	Replication *ReplicationObservation

	// History is the repository over time (nil: not read).
	History *History
}

// ProbeRecordObservation is one cluster agent's recorded writer probe.
type ProbeRecordObservation struct {
	Cluster, Key string
	Record       *access.ProbeRecord
	Err          error
}

// DrillObservation is one drill schedule and its newest evidence.
type DrillObservation struct {
	Schedule drill.ScheduleDoc
	// Signer is the trusted key that signed the schedule ("": none).
	Signer string
	// Latest is the newest evidence (nil: no drill ran yet).
	Latest *drill.Evidence
	// EvidenceSigner is the trusted key that signed Latest ("": none).
	EvidenceSigner string
	Err            error
}

// RedisObservation is one Redis instance's snapshot schedule and its
// newest complete snapshot.
type RedisObservation struct {
	Schedule redisx.ScheduleDoc
	// Signer is the trusted key that signed the schedule ("": none).
	Signer string
	// Newest is the newest complete snapshot (nil: none taken yet).
	Newest *redisx.SnapshotManifest
	Err    error
}

// ArchiveObservation is PostgreSQL's archiving state.
type ArchiveObservation struct {
	Server string
	State  pg.ArchiveState
	// OldestReady is the oldest segment waiting to be archived, Ready how
	// many wait.
	OldestReady time.Time
	Ready       int
	Err         error
}

// ReplicationObservation is what the server says of its standbys.
type ReplicationObservation struct {
	Server string
	State  pg.Replication
	Err    error
}

// BucketReader reads a bucket's posture (objectstore.Client).
type BucketReader interface {
	ReadBucket(ctx context.Context, name string) (*objectstore.BucketState, error)
}

// Target is what Gather reads.
type Target struct {
	// Buckets reads the bucket's posture; nil leaves the bucket controls
	// unknown.
	Buckets BucketReader
	Store   objectstore.Store
	Prefix  string
	// Clusters are the clusters to judge.
	Clusters []string
	// Postgres is each cluster's server (by cluster name), optional.
	Postgres map[string]Server
	// Probe is a writer probe's outcome, optional.
	Probe *access.Report
	// Trust decides the signers reported for configuration and evidence.
	Trust signature.Trust
	// Now is the time findings are judged at (zero: time.Now()).
	Now time.Time
}

// Server is a PostgreSQL connection and how to name it in a report.
type Server struct {
	Name string
	Pool *pgxpool.Pool
}

// Gather reads everything the controls need. It fails only when the
// target is unusable: every other read error is kept in the Observation.
func Gather(ctx context.Context, t Target) (*Observation, error) {
	if t.Store == nil {
		return nil, errors.New("posture: no repository store")
	}
	o := &Observation{Bucket: t.Store.Bucket(), Prefix: t.Prefix, Now: t.Now, Probe: t.Probe}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if t.Buckets != nil {
		o.BucketState, o.BucketErr = t.Buckets.ReadBucket(ctx, o.Bucket)
	} else {
		o.BucketErr = errors.New("bucket posture not read: no bucket client")
	}
	for _, name := range t.Clusters {
		c := ClusterObservation{Cluster: name, Layout: repo.Layout{Prefix: t.Prefix, Cluster: name}}
		gatherCluster(ctx, t, &c)
		c.History = gatherHistory(ctx, t.Store, &c)
		if srv, ok := t.Postgres[name]; ok && srv.Pool != nil {
			c.Archive = gatherArchive(ctx, srv)
			c.Replication = &ReplicationObservation{Server: srv.Name}
			c.Replication.State, c.Replication.Err = pg.ReadReplication(ctx, srv.Pool)
		}
		if t.Probe == nil {
			pr := ProbeRecordObservation{Cluster: name, Key: c.Layout.WriterProbeKey()}
			pr.Record, pr.Err = access.ReadProbeRecord(ctx, t.Store, c.Layout, t.Trust)
			if pr.Record != nil || pr.Err != nil {
				o.ProbeRecords = append(o.ProbeRecords, pr)
			}
		}
		o.Clusters = append(o.Clusters, c)
	}
	return o, nil
}

func gatherCluster(ctx context.Context, t Target, c *ClusterObservation) {
	store, l := t.Store, c.Layout
	c.Catalog, c.CatalogErr = catalog.Load(ctx, store, l)
	if c.CatalogErr == nil {
		c.Window, c.WindowErr = c.Catalog.RestorableWindow(ctx, store)
		if c.WindowErr == nil {
			c.NewestWALKey, c.NewestWALErr = walKey(ctx, store, l, c.Window.NewestSegment)
			c.LatestWALKey = c.NewestWALKey
			if c.Window.LatestSegment != c.Window.NewestSegment {
				c.LatestWALKey, _ = walKey(ctx, store, l, c.Window.LatestSegment)
			}
		}
	} else {
		c.WindowErr = c.CatalogErr
	}
	c.Policy, c.PolicySigner, c.PolicyErr = repo.ReadPolicySigned(ctx, store, l, t.Trust)
	if c.PolicyErr == nil {
		// The version read may differ from the one ReadPolicySigned read
		// if the policy is rewritten in between; the report names the
		// version current when it was gathered, which is what an auditor
		// fetches.
		if info, err := store.Head(ctx, l.PolicyKey()); err == nil {
			c.PolicyObject = info
		}
	}
	c.Redis, c.RedisErr = gatherRedis(ctx, t, l)
	c.Agents, c.AgentsErr = repo.ListHeartbeats(ctx, store, l)
	c.Regions, c.RegionsErr = gatherRegions(ctx, store, l, c.Cluster, t.Trust)
	c.VerifyRun, c.VerifyErr = repo.ReadJobRun(ctx, store, l, repo.JobVerify)
	c.BackupRun, c.BackupRunErr = repo.ReadJobRun(ctx, store, l, repo.JobBackup)

	// NOTE: an empty Trust lists every schedule, signed or not; the
	// signer is read per schedule below, so an unsigned schedule shows up
	// as a failing control instead of silently vanishing from the report.
	docs, _, err := drill.ListSchedules(ctx, store, l, signature.Trust{})
	if err != nil {
		c.DrillsErr = err
		return
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
	for _, d := range docs {
		do := DrillObservation{Schedule: d}
		if _, signer, err := drill.ReadScheduleSigned(ctx, store, l, d.Name, t.Trust); err == nil {
			do.Signer = signer
		}
		ev, err := drill.Latest(ctx, store, l, d.Name)
		switch {
		case errors.Is(err, objectstore.ErrNotFound):
		case err != nil:
			do.Err = err
		default:
			do.Latest = ev
			if t.Trust.Required() {
				do.EvidenceSigner, _ = ev.SignedBy(t.Trust)
			}
		}
		c.Drills = append(c.Drills, do)
	}
}

// walKey finds the key segment seg is stored under (its name says the
// codec and whether it is encrypted); "" when seg is not archived.
func walKey(ctx context.Context, store objectstore.Store, l repo.Layout, seg string) (string, error) {
	if len(seg) < 8 {
		return "", nil
	}
	var key string
	err := store.List(ctx, l.WALTimelineDir(seg[:8])+seg+".", func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindWAL && k.Name == seg {
			key = o.Key
		}
		return nil
	})
	return key, err
}

// gatherRedis reads every Redis snapshot schedule of the cluster and the
// newest snapshot of each.
func gatherRedis(ctx context.Context, t Target, l repo.Layout) ([]RedisObservation, error) {
	// NOTE: listed without trust, like the drill schedules: an unsigned
	// schedule is a failing control, not an instance missing from the
	// report.
	docs, _, err := redisx.ListSchedules(ctx, t.Store, l, signature.Trust{})
	if err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Instance < docs[j].Instance })
	var out []RedisObservation
	for _, d := range docs {
		ro := RedisObservation{Schedule: d}
		if _, signer, err := redisx.ReadScheduleSigned(ctx, t.Store, l, d.Instance, t.Trust); err == nil {
			ro.Signer = signer
		}
		snaps, err := redisx.Snapshots(ctx, t.Store, l, d.Instance)
		switch {
		case err != nil:
			ro.Err = err
		case len(snaps) > 0:
			ro.Newest = &snaps[len(snaps)-1]
		}
		out = append(out, ro)
	}
	return out, nil
}

func gatherArchive(ctx context.Context, srv Server) *ArchiveObservation {
	a := &ArchiveObservation{Server: srv.Name}
	st, err := pg.ReadArchive(ctx, srv.Pool)
	if err != nil {
		a.Err = fmt.Errorf("reading archive settings of %s: %w", srv.Name, err)
		return a
	}
	a.State = st
	a.OldestReady, a.Ready, err = pg.OldestReady(ctx, srv.Pool)
	if err != nil {
		a.Err = fmt.Errorf("reading archive_status of %s: %w", srv.Name, err)
	}
	return a
}
