package agentd

import (
	"context"
	"errors"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// statsLoop computes the listing-based metrics now and every
// StatsInterval until ctx is done. They cost one listing of each
// repository folder, so they are computed rarely, not per scrape.
func (d *Daemon) statsLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.StatsInterval)
	defer t.Stop()
	for {
		if err := d.repositoryStats(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("computing repository metrics", "err", err)
		}
		if err := d.drillStats(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("computing drill metrics", "err", err)
		}
		if err := d.postureStats(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("computing posture metrics", "err", err)
		}
		if err := d.redisStats(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("computing redis metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// repositoryStats sets lifeboat_repository_size_bytes per folder and the
// newest complete backup's metrics (whichever agent took it).
func (d *Daemon) repositoryStats(ctx context.Context) error {
	newest := ""
	for _, folder := range RepositoryFolders {
		var size int64
		err := d.cfg.Store.List(ctx, d.layout.Dir(folder), func(o objectstore.ObjectInfo) error {
			size += o.Size
			if k, ok := d.layout.Parse(o.Key); ok && k.Kind == repo.KindBackupManifest && k.ID > newest {
				newest = k.ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		d.m.RepositorySize.WithLabelValues(string(folder)).Set(float64(size))
	}
	d.m.RepositorySizeAt.Set(float64(d.cfg.Now().UnixNano()) / 1e9)
	if newest != "" {
		m, err := backup.ReadManifest(ctx, d.cfg.Store, d.layout, newest)
		if err != nil {
			return err
		}
		d.setBackupMetrics(m)
	}
	return nil
}

// walStats sets the WAL archiving metrics from the server: the age of the
// oldest segment waiting for the archiver, and pg_stat_archiver's last
// success. Failures are logged, not fatal: the metrics then go stale,
// which an alert on lifeboat_wal_last_archived_timestamp_seconds sees.
func (d *Daemon) walStats(ctx context.Context, p *repo.Policy) {
	dsn := d.dsn(p)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := pg.Pool(ctx, dsn)
	if err != nil {
		d.log.Warn("WAL archive metrics: connecting", "err", err)
		return
	}
	c := d.layout.Cluster
	oldest, n, err := pg.OldestReady(ctx, pool)
	switch {
	case errors.Is(err, pg.ErrPrivilege):
		d.log.Debug("WAL archive lag needs pg_monitor (pg_ls_archive_statusdir)", "err", err)
	case err != nil:
		d.log.Warn("WAL archive metrics: reading archive_status", "err", err)
	case n == 0:
		d.m.WALArchiveLag.WithLabelValues(c).Set(0)
	default:
		d.m.WALArchiveLag.WithLabelValues(c).Set(max(0, d.cfg.Now().Sub(oldest).Seconds()))
	}
	st, err := pg.ReadArchive(ctx, pool)
	if err != nil {
		d.log.Warn("WAL archive metrics: reading pg_stat_archiver", "err", err)
		return
	}
	if !st.Archiver.LastArchivedTime.IsZero() {
		d.m.WALLastArchived.WithLabelValues(c).Set(float64(st.Archiver.LastArchivedTime.UnixNano()) / 1e9)
	}
}
