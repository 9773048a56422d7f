// Package schedule reads the cron schedules of backup policies and drills
// (five fields, or @daily/@hourly/@every 6h descriptors) and answers the
// questions posture checks ask of them: when did the schedule last fire,
// and what is the longest wait between two runs.
package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression.
type Schedule struct {
	Expr  string
	sched cron.Schedule
}

// Parse reads a five-field cron expression ("0 2 * * *") or a descriptor
// ("@daily", "@every 6h"). Times are UTC.
func Parse(expr string) (*Schedule, error) {
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w (use five cron fields such as \"0 2 * * *\", or @hourly, @daily, @every 6h)", expr, err)
	}
	return &Schedule{Expr: expr, sched: s}, nil
}

// Next is the first run strictly after t. "@every d" runs are aligned to
// multiples of d since the Unix epoch, so every agent agrees on them.
func (s *Schedule) Next(t time.Time) time.Time {
	if d, ok := s.every(); ok {
		return t.UTC().Truncate(d).Add(d)
	}
	return s.sched.Next(t.UTC())
}

// every reports the period of an "@every d" schedule.
func (s *Schedule) every() (time.Duration, bool) {
	if c, ok := s.sched.(cron.ConstantDelaySchedule); ok && c.Delay > 0 {
		return c.Delay, true
	}
	return 0, false
}

// MaxGap is the longest time between two consecutive runs over the four
// weeks from a fixed reference (so the answer does not depend on today).
func (s *Schedule) MaxGap() time.Duration {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(28 * 24 * time.Hour)
	var gap time.Duration
	prev := s.Next(start)
	if prev.IsZero() {
		return 0
	}
	for t := s.Next(prev); !t.IsZero() && t.Before(end.Add(gap+time.Nanosecond)); t = s.Next(t) {
		if d := t.Sub(prev); d > gap {
			gap = d
		}
		prev = t
		if t.After(end) {
			break
		}
	}
	if gap == 0 {
		// Fewer than two runs in four weeks (a yearly schedule): the gap
		// is at least that long.
		gap = 28 * 24 * time.Hour
	}
	return gap
}

// Prev is the last run at or before t (zero if none in the year before).
func (s *Schedule) Prev(t time.Time) time.Time {
	t = t.UTC()
	if d, ok := s.every(); ok {
		return t.Truncate(d)
	}
	// Look back a little first: most schedules run at least weekly.
	for _, back := range []time.Duration{8 * 24 * time.Hour, 366 * 24 * time.Hour} {
		var last time.Time
		for n := s.Next(t.Add(-back)); !n.IsZero() && !n.After(t); n = s.Next(n) {
			last = n
		}
		if !last.IsZero() {
			return last
		}
	}
	return time.Time{}
}

// Overdue reports whether a job created at created (zero: unknown, long
// ago) that last ran at last (zero: never) has missed its schedule as of
// now. A run is given a tenth of the longest gap (at least 15 minutes) to
// finish, and one late run is tolerated before the job counts as overdue;
// due is the run it is measured against. A job is never overdue for a
// slot that fired before it was created: a schedule declared today owes
// nothing until its first slot after creation has passed (and its grace).
func (s *Schedule) Overdue(created, last, now time.Time) (due time.Time, overdue bool) {
	gap := s.MaxGap()
	due = s.Prev(now.Add(-max(gap/10, 15*time.Minute)))
	if due.IsZero() {
		return due, false
	}
	if !created.IsZero() && due.Before(s.Next(created.Add(-time.Nanosecond))) {
		return due, false
	}
	return due, last.IsZero() || last.Before(due.Add(-gap))
}
