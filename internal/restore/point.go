package restore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/walscan"
)

// Point is a recovery target other than a time: at most one of LSN, XID,
// Name and Immediate is set. The zero Point, with a zero time, is latest.
type Point struct {
	// LSN is recovery_target_lsn ("0/5000060").
	LSN string `json:"lsn,omitempty"`
	// XID is recovery_target_xid: recovery stops at that transaction's
	// commit (with Exclusive, just before it).
	XID string `json:"xid,omitempty"`
	// Name is recovery_target_name: a restore point made with
	// pg_create_restore_point (lifeboat_restore_point).
	Name string `json:"name,omitempty"`
	// Immediate is recovery_target = 'immediate': stop as soon as the base
	// backup is consistent (its end), replaying no WAL after it.
	Immediate bool `json:"immediate,omitempty"`
	// Exclusive is recovery_target_inclusive = off: stop just before the
	// target (an xid's commit, an LSN) instead of just after it.
	Exclusive bool `json:"exclusive,omitempty"`
}

// IsZero reports whether no point is set.
func (p Point) IsZero() bool { return p.LSN == "" && p.XID == "" && p.Name == "" && !p.Immediate }

// Attribute names the target as PostgreSQL's setting does:
// recovery_target_lsn, recovery_target_xid, recovery_target_name or
// recovery_target; "" for none.
func (p Point) Attribute() string {
	switch {
	case p.LSN != "":
		return "recovery_target_lsn"
	case p.XID != "":
		return "recovery_target_xid"
	case p.Name != "":
		return "recovery_target_name"
	case p.Immediate:
		return "recovery_target"
	}
	return ""
}

// String shows the target as plans do: "lsn 0/5000060", "xid 745
// (exclusive)", "restore point before-upgrade", "immediate".
func (p Point) String() string {
	var s string
	switch {
	case p.LSN != "":
		s = "lsn " + p.LSN
	case p.XID != "":
		s = "xid " + p.XID
	case p.Name != "":
		return "restore point " + p.Name
	case p.Immediate:
		return "immediate (end of the base backup)"
	default:
		return ""
	}
	if p.Exclusive {
		s += " (exclusive)"
	}
	return s
}

// Validate checks the point's form: one target, an LSN as X/X, a
// transaction id as a number above 2 (the special ids).
func (p Point) Validate() error {
	n := 0
	for _, set := range []bool{p.LSN != "", p.XID != "", p.Name != "", p.Immediate} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: set one of lsn, xid, restore point and immediate, not %d", ErrInvalidTarget, n)
	}
	if p.LSN != "" {
		if _, err := wal.ParseLSN(p.LSN); err != nil {
			return fmt.Errorf("%w: recovery_target_lsn: %w", ErrInvalidTarget, err)
		}
	}
	if p.XID != "" {
		if v, err := strconv.ParseUint(p.XID, 10, 32); err != nil || v < 3 {
			return fmt.Errorf("%w: recovery_target_xid %q: want a transaction id (3 to 4294967295)", ErrInvalidTarget, p.XID)
		}
	}
	if len(p.Name) >= 64 {
		return fmt.Errorf("%w: recovery_target_name %q: a restore point name is at most 63 bytes", ErrInvalidTarget, p.Name)
	}
	return nil
}

// TargetError says why a recovery target cannot be reached from the
// archive: which setting (Attribute, as in Point.Attribute), and what the
// archive holds.
type TargetError struct {
	Attribute string
	Err       error
	Detail    string
}

func (e *TargetError) Error() string { return e.Attribute + ": " + e.Err.Error() + ": " + e.Detail }

// Unwrap lets errors.Is match Err.
func (e *TargetError) Unwrap() error { return e.Err }

var (
	// ErrInvalidTarget means a recovery target is malformed or several are
	// set.
	ErrInvalidTarget = errors.New("invalid recovery target")
	// ErrTargetNotArchived means no archived WAL a backup can replay holds
	// the target: an LSN outside the archived range, a restore point name
	// or a transaction whose record is not there.
	ErrTargetNotArchived = errors.New("recovery target not in the archived WAL")
)

// locator finds a point's record (restore point, transaction end) in the
// WAL of a view, scanning each segment at most once per view.
type locator struct {
	ctx   context.Context
	store objectstore.Store
	opts  ClusterOptions
	point Point
	xid   uint32
	views map[uint32]*scanned
}

type scanned struct {
	lo, hi uint64 // segments scanned so far (hi 0: none)
	found  []found
}

type found struct {
	lsn  wal.LSN
	at   time.Time
	text string
}

// find returns the first record of the point in segments from..to of v.
func (l *locator) find(v *catalog.WALArchive, from, to uint64) (found, bool, error) {
	s := l.views[v.Timeline()]
	if s == nil {
		s = &scanned{}
		l.views[v.Timeline()] = s
	}
	scan := func(a, b uint64) error {
		if a > b {
			return nil
		}
		ids, err := l.opts.AgentConfig.Identities()
		if err != nil {
			return err
		}
		return walscan.Scan(l.ctx, l.store, v, walscan.Options{Layout: l.opts.Layout, BinDir: l.opts.BinDir, From: a, To: b, Identities: ids}, func(r walscan.Record) error {
			if name, ok := walscan.RestorePoint(r); ok && l.point.Name != "" && name == l.point.Name {
				s.found = append(s.found, found{lsn: r.LSN, text: "restore point " + name})
			}
			if x, ok := walscan.EndRecord(r); ok && l.point.XID != "" && x.XID == l.xid {
				what := "commit"
				if !x.Committed {
					what = "abort"
				}
				s.found = append(s.found, found{lsn: r.LSN, at: x.Time, text: fmt.Sprintf("%s of xid %d", what, x.XID)})
			}
			return nil
		})
	}
	if s.hi == 0 && s.lo == 0 {
		if err := scan(from, to); err != nil {
			return found{}, false, err
		}
		s.lo, s.hi = from, to
	} else {
		if from < s.lo {
			if err := scan(from, s.lo-1); err != nil {
				return found{}, false, err
			}
			s.lo = from
		}
		if to > s.hi {
			if err := scan(s.hi+1, to); err != nil {
				return found{}, false, err
			}
			s.hi = to
		}
	}
	var best *found
	seg := segSize(v)
	for i := range s.found {
		f := s.found[i]
		if no := uint64(f.lsn) / seg; no < from || no > to {
			continue
		}
		if best == nil || f.lsn < best.lsn {
			best = &s.found[i]
		}
	}
	if best == nil {
		return found{}, false, nil
	}
	return *best, true, nil
}

// planPoint finishes plan p of backup m for a point target: the segment
// replay stops in, or a reason this backup cannot reach the point (then
// an older backup may). start..end is the unbroken WAL on v from the
// backup's first segment.
func planPoint(l *locator, v *catalog.WALArchive, m *backup.Manifest, p *Plan, start, end uint64) (reason string, err error) {
	pt := l.point
	seg := segSize(v)
	stop, serr := wal.ParseLSN(m.StopLSN)
	if serr != nil {
		s, _ := wal.ParseSegment(m.WALStop, seg)
		stop = wal.LSN(s.No * seg)
	}
	file := func(no uint64) string {
		for _, f := range v.Files {
			if f.Segment.No == no {
				return f.Name
			}
		}
		return ""
	}
	p.Point = pt
	archivedEnd := wal.LSN((end + 1) * seg)
	switch {
	case pt.Immediate:
		ws, _ := wal.ParseSegment(m.WALStop, seg)
		p.WALStop, p.TargetLSN = file(ws.No), stop.String()
		return "", nil
	case pt.LSN != "":
		at, _ := wal.ParseLSN(pt.LSN)
		if at < stop {
			return fmt.Sprintf("backup %s is consistent only from %s, after %s", m.ID, stop, at), nil
		}
		if at >= archivedEnd {
			return "", &TargetError{Attribute: pt.Attribute(), Err: ErrTargetNotArchived, Detail: fmt.Sprintf(
				"%s is after the archived WAL backup %s can replay along timeline %d, which ends at %s (segment %s); the archived range is %s..%s",
				at, m.ID, v.Timeline(), archivedEnd, file(end), stop, archivedEnd)}
		}
		p.WALStop, p.TargetLSN = file(uint64(at)/seg), at.String()
		return "", nil
	}
	f, ok, err := l.find(v, start, end)
	if err != nil {
		return "", fmt.Errorf("reading archived WAL for %s: %w", pt, err)
	}
	if !ok {
		return fmt.Sprintf("no %s in the WAL %s..%s of backup %s", pt, file(start), file(end), m.ID), nil
	}
	if f.lsn < stop {
		return fmt.Sprintf("%s at %s is before backup %s is consistent (%s)", f.text, f.lsn, m.ID, stop), nil
	}
	p.WALStop, p.TargetLSN, p.TargetFound = file(uint64(f.lsn)/seg), f.lsn.String(), f.text
	p.TargetTime = f.at
	return "", nil
}

// pointRefusal is the error when no backup reaches the point.
func pointRefusal(pt Point, reasons []string) error {
	detail := strings.Join(reasons, "; ")
	if detail == "" {
		detail = "the repository holds no complete base backup with its WAL"
	}
	if pt.Name != "" {
		detail = fmt.Sprintf("no archived WAL that a backup can replay contains a restore point named %q (%s); "+
			"create it with pg_create_restore_point (lifeboat_restore_point) and let it be archived", pt.Name, detail)
	} else if pt.XID != "" {
		detail = fmt.Sprintf("no archived WAL that a backup can replay ends transaction %s (%s); `lifeboat incident find` lists the transactions it holds",
			pt.XID, detail)
	}
	return &TargetError{Attribute: pt.Attribute(), Err: ErrTargetNotArchived, Detail: detail}
}
