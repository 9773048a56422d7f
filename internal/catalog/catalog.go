// Package catalog reads a cluster's repository to say what is restorable:
// the backups that exist (a backup exists only with its manifest), the
// archived WAL and its gaps, the restorable window, verification of a
// backup, and retention (Prune) that never breaks what it keeps.
package catalog

import (
	"context"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Backup is one complete backup, as a data source lists it.
type Backup struct {
	ID string `json:"id"`
	// Kind is backup.KindPhysical or backup.KindTenant.
	Kind string `json:"kind"`
	// Database is the tenant database (tenant dumps only).
	Database  string    `json:"database,omitempty"`
	StartTime time.Time `json:"start_time"`
	StopTime  time.Time `json:"stop_time"`
	// StartLSN and StopLSN are set for physical backups; a tenant dump has
	// the LSN of its snapshot in both.
	StartLSN string `json:"start_lsn,omitempty"`
	StopLSN  string `json:"stop_lsn,omitempty"`
	Timeline uint32 `json:"timeline,omitempty"`
	// Size is the stored size; DataSize the uncompressed size when known.
	Size     int64 `json:"size"`
	DataSize int64 `json:"data_size,omitempty"`
	// WALStart and WALStop are the WAL segments a physical backup needs.
	WALStart    string `json:"wal_start,omitempty"`
	WALStop     string `json:"wal_stop,omitempty"`
	ManifestKey string `json:"manifest_key"`
	// Encryption names the recipients a client-side encrypted backup is
	// encrypted to (nil: stored in the clear); a restore needs one of
	// their identities.
	Encryption *crypt.Info `json:"encryption,omitempty"`
}

// Incomplete is a backup without its manifest: running, failed or killed.
// It does not exist for any command but Prune, which deletes it once it is
// older than the grace period.
type Incomplete struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Database string `json:"database,omitempty"`
	// Objects are the versions of its stored objects.
	Objects      []objectstore.ObjectInfo `json:"-"`
	Size         int64                    `json:"size"`
	LastModified time.Time                `json:"last_modified"`
}

// Catalog is what a repository holds, read in one pass.
type Catalog struct {
	Layout repo.Layout
	// Physical and Tenant are complete backups, oldest first.
	Physical []*backup.Manifest
	Tenant   []*backup.TenantManifest
	// Incomplete backups and dumps (no manifest).
	Incomplete []Incomplete
}

// Load lists the backups of the cluster at layout: one listing of
// basebackups/ and one of tenants/, then one read per manifest.
func Load(ctx context.Context, store objectstore.Store, l repo.Layout) (*Catalog, error) {
	c, err := LoadPhysical(ctx, store, l)
	if err != nil {
		return nil, err
	}
	if err := c.loadTenants(ctx, store); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadPhysical is Load without the tenant dumps (Tenant stays empty, and
// Incomplete holds only physical backups): one listing of basebackups/ and
// one read per manifest, for callers that show only physical backups and
// the restorable window, which a cluster of hundreds of tenants would
// otherwise pay one manifest read per dump for.
func LoadPhysical(ctx context.Context, store objectstore.Store, l repo.Layout) (*Catalog, error) {
	c := &Catalog{Layout: l}

	// Physical: group the objects by backup id.
	groups := map[string][]objectstore.ObjectInfo{}
	hasManifest := map[string]bool{}
	var ids []string
	err := store.List(ctx, l.BaseBackupsDir(), func(o objectstore.ObjectInfo) error {
		k, ok := l.Parse(o.Key)
		if !ok || (k.Kind != repo.KindBackupObject && k.Kind != repo.KindBackupManifest) {
			return nil
		}
		id := k.ID
		hasManifest[id] = hasManifest[id] || k.Kind == repo.KindBackupManifest
		if _, seen := groups[id]; !seen {
			ids = append(ids, id)
		}
		groups[id] = append(groups[id], o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !hasManifest[id] {
			c.Incomplete = append(c.Incomplete, incomplete(backup.KindPhysical, id, "", groups[id]))
			continue
		}
		m, err := backup.ReadManifest(ctx, store, l, id)
		if err != nil {
			return nil, err
		}
		c.Physical = append(c.Physical, m)
	}
	// NOTE: by start time, not id: two backups started in the same second
	// have ids that differ only by a random suffix.
	sort.Slice(c.Physical, func(i, j int) bool {
		if !c.Physical[i].StartTime.Equal(c.Physical[j].StartTime) {
			return c.Physical[i].StartTime.Before(c.Physical[j].StartTime)
		}
		return c.Physical[i].ID < c.Physical[j].ID
	})
	return c, nil
}

// loadTenants adds the tenant dumps: <db>/<id>.dump and <db>/<id>.json.
func (c *Catalog) loadTenants(ctx context.Context, store objectstore.Store) error {
	l := c.Layout
	type tkey struct{ db, id string }
	tgroups := map[tkey][]objectstore.ObjectInfo{}
	tmanifest := map[tkey]bool{}
	var tkeys []tkey
	err := store.List(ctx, l.TenantsDir(), func(o objectstore.ObjectInfo) error {
		rk, ok := l.Parse(o.Key)
		if !ok || (rk.Kind != repo.KindTenantDump && rk.Kind != repo.KindTenantManifest) {
			return nil
		}
		k := tkey{rk.Database, rk.ID}
		tmanifest[k] = tmanifest[k] || rk.Kind == repo.KindTenantManifest
		if _, seen := tgroups[k]; !seen {
			tkeys = append(tkeys, k)
		}
		tgroups[k] = append(tgroups[k], o)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range tkeys {
		if !tmanifest[k] {
			c.Incomplete = append(c.Incomplete, incomplete(backup.KindTenant, k.id, k.db, tgroups[k]))
			continue
		}
		m, err := backup.ReadTenantManifest(ctx, store, l, k.db, k.id)
		if err != nil {
			return err
		}
		c.Tenant = append(c.Tenant, m)
	}
	sort.Slice(c.Tenant, func(i, j int) bool {
		if !c.Tenant[i].StartTime.Equal(c.Tenant[j].StartTime) {
			return c.Tenant[i].StartTime.Before(c.Tenant[j].StartTime)
		}
		if c.Tenant[i].ID != c.Tenant[j].ID {
			return c.Tenant[i].ID < c.Tenant[j].ID
		}
		return c.Tenant[i].Database < c.Tenant[j].Database
	})
	return nil
}

func incomplete(kind, id, db string, objs []objectstore.ObjectInfo) Incomplete {
	in := Incomplete{Kind: kind, ID: id, Database: db, Objects: objs}
	for _, o := range objs {
		in.Size += o.Size
		if o.LastModified.After(in.LastModified) {
			in.LastModified = o.LastModified
		}
	}
	return in
}

// Backups lists every complete backup, oldest first (physical and tenant
// dumps interleaved by id, which sorts by start time).
func (c *Catalog) Backups() []Backup {
	var out []Backup
	for _, m := range c.Physical {
		out = append(out, Backup{
			ID: m.ID, Kind: m.Kind, StartTime: m.StartTime, StopTime: m.StopTime,
			StartLSN: m.StartLSN, StopLSN: m.StopLSN, Timeline: m.Timeline,
			Size: m.StoredSize, DataSize: m.DataSize, WALStart: m.WALStart, WALStop: m.WALStop,
			ManifestKey: c.Layout.BackupManifestKey(m.ID), Encryption: m.Encryption,
		})
	}
	for _, m := range c.Tenant {
		out = append(out, Backup{
			ID: m.ID, Kind: m.Kind, Database: m.Database, StartTime: m.StartTime, StopTime: m.StopTime,
			StartLSN: m.LSN, StopLSN: m.LSN, Size: m.Dump.Size, DataSize: m.Dump.Size,
			ManifestKey: c.Layout.TenantManifestKey(m.Database, m.ID), Encryption: m.Encryption,
		})
	}
	// Oldest first by start; a physical backup before the dumps taken with it.
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.Before(out[j].StartTime)
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == backup.KindPhysical
		}
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Database < out[j].Database
	})
	return out
}

// ListBackups is Load followed by Backups.
func ListBackups(ctx context.Context, store objectstore.Store, l repo.Layout) ([]Backup, error) {
	c, err := Load(ctx, store, l)
	if err != nil {
		return nil, err
	}
	return c.Backups(), nil
}
