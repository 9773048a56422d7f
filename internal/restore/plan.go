package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Plan is the recovery point a cluster restore will use, known before
// anything is downloaded: what `terraform plan` shows.
type Plan struct {
	BackupID string
	// BackupStop is the earliest point this backup reaches (it is
	// consistent only from its stop on).
	BackupStop time.Time
	// WALStart is the first segment replay needs; WALStop the last one:
	// for a time target the first segment archived at or after it (replay
	// stops at the first commit after the target), for latest the newest
	// segment of the unbroken run.
	WALStart string
	WALStop  string
	// Target is zero for latest.
	Target time.Time
	// Latest is the newest restorable time reachable from this backup
	// (when WALStop's run ends); for "latest" the data-loss window ends
	// here.
	Latest time.Time

	// manifest and segSize are for RestoreCluster.
	manifest *backup.Manifest
	segSize  uint64
}

// Manifest is the chosen backup's manifest.
func (p *Plan) Manifest() *backup.Manifest { return p.manifest }

// PlanCluster chooses the recovery point without touching PostgreSQL or the
// disk: the newest complete base backup whose StopTime <= Target (any
// backup for latest; BackupID if given, checked), with unbroken WAL from its
// WALStart up to the target. A target outside the window returns an
// *OutsideWindowError stating the window.
func PlanCluster(ctx context.Context, store objectstore.Store, opts ClusterOptions) (*Plan, error) {
	c, err := catalog.Load(ctx, store, opts.Layout)
	if err != nil {
		return nil, fmt.Errorf("reading the repository: %w", err)
	}
	segSize := uint64(wal.DefaultSegmentSize)
	for _, m := range c.Physical {
		if m.WALSegmentSize != 0 {
			segSize = m.WALSegmentSize
			break
		}
	}
	a, err := catalog.ListWAL(ctx, store, opts.Layout, segSize)
	if err != nil {
		return nil, fmt.Errorf("listing archived WAL: %w", err)
	}
	return planCluster(c, a, opts)
}

func planCluster(c *catalog.Catalog, a *catalog.WALArchive, opts ClusterOptions) (*Plan, error) {
	win := c.Window(a)
	outside := func(reason string) error {
		return &OutsideWindowError{Target: opts.Target, Window: *win, Reason: reason}
	}
	// Complete segments by number, highest timeline winning (as catalog does).
	segs := map[uint64]catalog.WALFile{}
	for _, f := range a.Files {
		if f.IsSegment {
			segs[f.Segment.No] = f
		}
	}

	candidates := c.Physical
	if opts.BackupID != "" {
		candidates = nil
		for _, m := range c.Physical {
			if m.ID == opts.BackupID {
				candidates = append(candidates, m)
			}
		}
		if len(candidates) == 0 {
			return nil, fmt.Errorf("backup %q: %w (not in the repository, or incomplete)", opts.BackupID, backup.ErrNoManifest)
		}
	}
	target := opts.Target.UTC()
	var lastReason string
	for i := len(candidates) - 1; i >= 0; i-- { // newest first
		m := candidates[i]
		if len(m.Archives) != 1 || m.Archives[0].TablespaceOID != "" || m.Archives[0].TablespacePath != "" {
			lastReason = fmt.Sprintf("backup %s: %v", m.ID, ErrTablespaces)
			if opts.BackupID != "" {
				return nil, fmt.Errorf("backup %s has %d archives: %w (restoring tablespaces is not supported)", m.ID, len(m.Archives), ErrTablespaces)
			}
			continue
		}
		if !target.IsZero() && m.StopTime.After(target) {
			lastReason = fmt.Sprintf("backup %s stopped at %s, after the target", m.ID, m.StopTime.UTC().Format(time.RFC3339))
			continue
		}
		end, ok := catalog.Usable(m, a)
		if !ok {
			lastReason = fmt.Sprintf("backup %s lacks archived WAL between %s and %s", m.ID, m.WALStart, m.WALStop)
			continue
		}
		start, _ := wal.ParseSegment(m.WALStart, segSize(a))
		last := segs[end]
		p := &Plan{
			BackupID: m.ID, BackupStop: m.StopTime, WALStart: m.WALStart, Target: opts.Target,
			Latest: last.LastModified, manifest: m, segSize: segSize(a),
		}
		if target.IsZero() {
			p.WALStop = last.Name
			return p, nil
		}
		if last.LastModified.Before(target) {
			lastReason = fmt.Sprintf("backup %s's unbroken WAL ends with %s, archived at %s", m.ID, last.Name,
				last.LastModified.UTC().Format(time.RFC3339))
			if opts.BackupID != "" {
				return nil, outside(lastReason)
			}
			// An older backup cannot reach further on the same run, and a
			// run before a gap ends even earlier.
			break
		}
		// The first segment archived at or after the target holds WAL
		// written after it: replay needs no further.
		p.WALStop = last.Name
		stop, _ := wal.ParseSegment(m.WALStop, segSize(a))
		for no := max(start.No, stop.No); no <= end; no++ {
			if f := segs[no]; !f.LastModified.Before(target) {
				p.WALStop = f.Name
				break
			}
		}
		return p, nil
	}
	if lastReason == "" {
		lastReason = "the repository holds no complete base backup"
	}
	return nil, outside(lastReason)
}

func segSize(a *catalog.WALArchive) uint64 {
	if a.SegmentSize == 0 {
		return wal.DefaultSegmentSize
	}
	return a.SegmentSize
}
