package restore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
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
	// Target is zero for latest (and for a Point target).
	Target time.Time
	// Point is a target other than a time (see Point); TargetLSN is where
	// replay stops for it: the LSN asked for, the record of the restore
	// point or of the transaction's end found in the archive (TargetFound
	// says which, TargetTime the commit time it records), or the backup's
	// end for immediate.
	Point       Point
	TargetLSN   string
	TargetFound string
	TargetTime  time.Time
	// Latest is the newest restorable time reachable from this backup
	// (when WALStop's run ends); for "latest" the data-loss window ends
	// here.
	Latest time.Time
	// Timeline is the timeline recovery follows (recovery_target_timeline
	// is set to it), and TimelinePath how it is reached from the backup's,
	// e.g. "1 -> 2 at 0/5000060"; WALStart..WALStop is read along it, each
	// segment from the timeline that history says (so the names may carry
	// different timelines, never two branches).
	Timeline     uint32
	TimelinePath string

	// manifest and segSize are for RestoreCluster; segs and startNo name
	// the WAL files of WALStart..WALStop (WALKeys).
	manifest *backup.Manifest
	segSize  uint64
	// walSets maps each recipient set the WAL replay reads is encrypted
	// to, to one of its files (for checkIdentities).
	walSets map[string]catalog.WALFile
	segs    map[uint64]catalog.WALFile
	startNo uint64
}

// WALKeys are the keys of the archived WAL segments WALStart..WALStop, in
// replay order: what a clean-room restore verifies before it starts.
func (p *Plan) WALKeys() []string {
	var keys []string
	for no := p.startNo; ; no++ {
		f, ok := p.segs[no]
		if !ok {
			break
		}
		keys = append(keys, f.Key)
		if f.Name == p.WALStop {
			break
		}
	}
	return keys
}

// Manifest is the chosen backup's manifest.
func (p *Plan) Manifest() *backup.Manifest { return p.manifest }

// PlanCluster chooses the recovery point without touching PostgreSQL or the
// disk: the timeline to follow (opts.TargetTimeline), then the newest
// complete base backup on that timeline's history whose StopTime <= Target
// (any such backup for latest; BackupID if given, checked), with unbroken
// WAL along that history from its WALStart up to the target. A target
// outside the window returns an *OutsideWindowError stating the window; a
// timeline the archive does not know, or no backup on its history, a
// *catalog.TimelineError naming the archive's timelines.
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
	var loc *locator
	if !opts.Point.IsZero() {
		loc = &locator{ctx: ctx, store: store, opts: opts, point: opts.Point, views: map[uint32]*scanned{}}
	}
	p, err := planCluster(c, a, opts, loc)
	if err != nil {
		return nil, err
	}
	ids, err := opts.AgentConfig.Identities()
	if err != nil {
		return nil, err
	}
	if err := checkIdentities(ctx, store, ids, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkIdentities fails the plan when ids cannot decrypt the backup or a
// WAL file replay reads: at plan time, naming the recipients, rather than
// in the middle of a restore. The recipients of a WAL file are read from
// one file per recipient set (its key names the set).
func checkIdentities(ctx context.Context, store objectstore.Store, ids *crypt.Keyring, p *Plan) error {
	if err := ids.Check("backup "+p.BackupID, p.manifest.Encryption); err != nil {
		return fmt.Errorf("%w: %w", ErrCannotDecrypt, err)
	}
	sets := slices.Sorted(maps.Keys(p.walSets))
	for _, set := range sets {
		f := p.walSets[set]
		info, err := store.Head(ctx, f.Key)
		if err != nil {
			return fmt.Errorf("reading the recipients of %s: %w", f.Key, err)
		}
		what := fmt.Sprintf("WAL segment %s (and every segment of recipient set %s)", f.Name, set)
		if err := ids.Check(what, crypt.InfoFromMetadata(info.Metadata)); err != nil {
			return fmt.Errorf("%w: %w", ErrCannotDecrypt, err)
		}
	}
	return nil
}

// IsLatest reports whether the plan replays all archived WAL (no time and
// no other target).
func (p *Plan) IsLatest() bool { return p.Target.IsZero() && p.Point.IsZero() }

func planCluster(c *catalog.Catalog, a *catalog.WALArchive, opts ClusterOptions, loc *locator) (*Plan, error) {
	if err := opts.Point.Validate(); err != nil {
		return nil, err
	}
	if !opts.Point.IsZero() && !opts.Target.IsZero() {
		return nil, fmt.Errorf("%w: a point in time and %s are both set", ErrInvalidTarget, opts.Point.Attribute())
	}
	if loc != nil && opts.Point.XID != "" {
		v, _ := strconv.ParseUint(opts.Point.XID, 10, 32)
		loc.xid = uint32(v)
	}
	var pointReasons []string
	tt, err := ParseTargetTimeline(opts.TargetTimeline)
	if err != nil {
		return nil, err
	}
	// views holds the archive as seen from each timeline recovery may
	// follow: the target's, or with "current" each backup's own.
	views := map[uint32]*catalog.WALArchive{}
	viewOf := func(m *backup.Manifest) (*catalog.WALArchive, error) {
		tli := tt.id
		switch {
		case tt.current:
			tli = backupTimeline(m)
		case tt.id == 0:
			tli = a.LatestTimeline()
		}
		if v, ok := views[tli]; ok {
			return v, nil
		}
		v, err := a.On(tli)
		if err != nil {
			return nil, err
		}
		views[tli] = v
		return v, nil
	}
	// The window stated in refusals is the one of the target timeline.
	winView := a
	if !tt.current {
		if v, err := viewOf(nil); err == nil {
			winView = v
		} else {
			return nil, err
		}
	}
	win := c.Window(winView)
	outside := func(reason string) error {
		return &OutsideWindowError{Target: opts.Target, Window: *win, Reason: reason}
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
	var offPath []string                        // backups left out for being on another branch
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
		v, err := viewOf(m)
		if err != nil {
			return nil, err
		}
		if !v.OnPath(m) {
			why := fmt.Sprintf("backup %s (timeline %d, stopped at %s)", m.ID, backupTimeline(m), m.StopLSN)
			offPath = append(offPath, why)
			if opts.BackupID != "" {
				return nil, timelineError(a, v.Timeline(), catalog.ErrNotOnTimeline, why+" is not on its history")
			}
			continue
		}
		end, ok := catalog.Usable(m, v)
		if !ok {
			lastReason = fmt.Sprintf("backup %s lacks archived WAL of timeline %d's history between %s and %s", m.ID, v.Timeline(), m.WALStart, m.WALStop)
			continue
		}
		start, _ := wal.ParseSegment(m.WALStart, segSize(v))
		segs := map[uint64]catalog.WALFile{}
		for _, f := range v.Files {
			segs[f.Segment.No] = f
		}
		last := segs[end]
		p := &Plan{
			BackupID: m.ID, BackupStop: m.StopTime, WALStart: segs[start.No].Name, Target: opts.Target,
			Latest: last.LastModified, Timeline: v.Timeline(), TimelinePath: describePath(v, m),
			manifest: m, segSize: segSize(v), segs: segs, startNo: start.No,
		}
		if !opts.Point.IsZero() {
			if loc == nil {
				return nil, fmt.Errorf("planning %s needs the repository", opts.Point)
			}
			reason, err := planPoint(loc, v, m, p, start.No, end)
			if err != nil {
				return nil, err
			}
			if reason == "" {
				ws, _ := wal.ParseSegment(p.WALStop, segSize(v))
				p.walSets = recipientSets(segs, start.No, ws.No)
				return p, nil
			}
			pointReasons = append(pointReasons, reason)
			continue
		}
		if target.IsZero() {
			p.WALStop = last.Name
			p.walSets = recipientSets(segs, start.No, end)
			return p, nil
		}
		if last.LastModified.Before(target) {
			lastReason = fmt.Sprintf("backup %s's unbroken WAL on timeline %d ends with %s, archived at %s", m.ID, v.Timeline(), last.Name,
				last.LastModified.UTC().Format(time.RFC3339))
			if opts.BackupID != "" {
				return nil, outside(lastReason)
			}
			if tt.current {
				continue // another backup may follow another timeline
			}
			// An older backup cannot reach further on the same run, and a
			// run before a gap ends even earlier.
			break
		}
		// The first segment archived at or after the target holds WAL
		// written after it: replay needs no further.
		p.WALStop = last.Name
		stop, _ := wal.ParseSegment(m.WALStop, segSize(v))
		stopNo := end
		for no := max(start.No, stop.No); no <= end; no++ {
			if f := segs[no]; !f.LastModified.Before(target) {
				p.WALStop, stopNo = f.Name, no
				break
			}
		}
		p.walSets = recipientSets(segs, start.No, stopNo)
		return p, nil
	}
	if !opts.Point.IsZero() {
		if lastReason != "" {
			pointReasons = append(pointReasons, lastReason)
		}
		return nil, pointRefusal(opts.Point, pointReasons)
	}
	if lastReason == "" && len(offPath) > 0 {
		return nil, timelineError(a, winView.Timeline(), catalog.ErrNotOnTimeline,
			"no complete base backup is on its history ("+strings.Join(offPath, ", ")+" are on other branches)")
	}
	if lastReason == "" {
		lastReason = "the repository holds no complete base backup"
	}
	return nil, outside(lastReason)
}

// recipientSets maps the recipient sets of segments from..to to one
// segment each.
func recipientSets(segs map[uint64]catalog.WALFile, from, to uint64) map[string]catalog.WALFile {
	out := map[string]catalog.WALFile{}
	for no := from; no <= to; no++ {
		if f, ok := segs[no]; ok && f.RecipientSet != "" {
			if _, seen := out[f.RecipientSet]; !seen {
				out[f.RecipientSet] = f
			}
		}
	}
	return out
}

// TargetTimeline is a parsed recovery_target_timeline.
type TargetTimeline struct {
	current bool
	id      uint32 // 0 with !current: latest
}

// ParseTargetTimeline reads recovery_target_timeline as PostgreSQL takes
// it: "latest" (or empty: the newest timeline in the archive), "current"
// (the chosen backup's own timeline) or a timeline number.
func ParseTargetTimeline(s string) (TargetTimeline, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "latest":
		return TargetTimeline{}, nil
	case "current":
		return TargetTimeline{current: true}, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n == 0 {
		return TargetTimeline{}, fmt.Errorf("%w: recovery_target_timeline %q: want latest, current or a timeline number (1 or more)", ErrBadTimeline, s)
	}
	return TargetTimeline{id: uint32(n)}, nil
}

func backupTimeline(m *backup.Manifest) uint32 {
	if m == nil {
		return 0
	}
	if m.StopTimeline != 0 {
		return m.StopTimeline
	}
	return m.Timeline
}

func timelineError(a *catalog.WALArchive, tli uint32, err error, detail string) error {
	return &catalog.TimelineError{Err: err, Timeline: tli, Known: a.TimelineList(), Detail: detail}
}

// describePath says how recovery gets from backup m's timeline to v's:
// "1 -> 2 at 0/5000060", or "1" when it stays on one.
func describePath(v *catalog.WALArchive, m *backup.Manifest) string {
	from := backupTimeline(m)
	var parts []string
	on := false
	for _, s := range v.Path() {
		if s.TLI == from {
			on = true
			parts = append(parts, fmt.Sprint(s.TLI))
			continue
		}
		if on {
			parts = append(parts, fmt.Sprintf("%d at %s", s.TLI, s.Begin))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprint(v.Timeline())
	}
	return strings.Join(parts, " -> ")
}

func segSize(a *catalog.WALArchive) uint64 {
	if a.SegmentSize == 0 {
		return wal.DefaultSegmentSize
	}
	return a.SegmentSize
}
