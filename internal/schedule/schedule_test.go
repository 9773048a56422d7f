package schedule

import (
	"testing"
	"time"
)

func TestMaxGap(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"0 2 * * *":   24 * time.Hour,
		"@hourly":     time.Hour,
		"@every 6h":   6 * time.Hour,
		"0 2 * * 1-5": 72 * time.Hour, // Friday night to Monday night
		"0 */4 * * *": 4 * time.Hour,
		"0 3 * * 0":   7 * 24 * time.Hour,
	} {
		s, err := Parse(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := s.MaxGap(); got != want {
			t.Errorf("MaxGap(%q) = %s, want %s", expr, got, want)
		}
	}
}

func TestParseRejectsNonsense(t *testing.T) {
	for _, expr := range []string{"", "every day", "61 * * * *", "* * * *", "0 2 * * * *"} {
		if _, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) accepted", expr)
		}
	}
}

func TestPrev(t *testing.T) {
	s, _ := Parse("0 2 * * *")
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	if got, want := s.Prev(now), time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Prev = %s, want %s", got, want)
	}
	if got := s.Prev(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("Prev at a run = %s, want that run", got)
	}
}

func TestEveryIsAlignedAndPrevIsNotNow(t *testing.T) {
	s, _ := Parse("@every 6h")
	now := time.Date(2026, 11, 25, 13, 27, 0, 0, time.UTC)
	if got, want := s.Prev(now), time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Prev = %s, want %s (aligned, not now)", got, want)
	}
	if got, want := s.Next(now), time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Next = %s, want %s", got, want)
	}
}

func TestOverdue(t *testing.T) {
	s, _ := Parse("@hourly")
	now := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	if _, over := s.Overdue(time.Time{}, now.Add(-20*time.Minute), now); over {
		t.Fatal("a run 20 minutes ago is not overdue")
	}
	if due, over := s.Overdue(time.Time{}, now.Add(-5*time.Hour), now); !over || !due.Equal(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("a run 5 hours ago: overdue=%v due=%s", over, due)
	}
	if _, over := s.Overdue(time.Time{}, time.Time{}, now); !over {
		t.Fatal("never run is overdue")
	}
}

// TestOverdueNotBeforeFirstSlotAfterCreation: a schedule created just now
// has missed nothing, whatever slots fired before it existed; once its
// first slot after creation (and the grace to finish it) passed with no
// run, it is overdue.
func TestOverdueNotBeforeFirstSlotAfterCreation(t *testing.T) {
	daily, _ := Parse("0 2 * * *")
	created := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	for _, now := range []time.Time{created, created.Add(time.Minute), time.Date(2026, 11, 26, 2, 10, 0, 0, time.UTC)} {
		if due, over := daily.Overdue(created, time.Time{}, now); over {
			t.Fatalf("created %s, never run, at %s: overdue (due %s); its first slot is 2026-11-26T02:00", created, now, due)
		}
	}
	if due, over := daily.Overdue(created, time.Time{}, time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)); !over ||
		!due.Equal(time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("first slot after creation passed with no run: overdue=%v due=%s", over, due)
	}
	// Created exactly on a slot: that slot is its first.
	onSlot := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	if _, over := daily.Overdue(onSlot, time.Time{}, onSlot.Add(3*time.Hour)); !over {
		t.Fatal("created on a slot, 3h later never run: want overdue")
	}
	hourly, _ := Parse("@hourly")
	if _, over := hourly.Overdue(created, time.Time{}, created.Add(40*time.Minute)); over {
		t.Fatal("hourly created 40m ago: its first slot (14:00) is still within its grace")
	}
	if _, over := hourly.Overdue(created, time.Time{}, created.Add(50*time.Minute)); !over {
		t.Fatal("hourly created 50m ago, never run: its 14:00 slot passed its 15m grace")
	}
	every, _ := Parse("@every 6h")
	if _, over := every.Overdue(created, time.Time{}, created.Add(time.Hour)); over {
		t.Fatal("@every 6h created an hour ago is not overdue")
	}
}
