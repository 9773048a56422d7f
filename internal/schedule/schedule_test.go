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
	if _, over := s.Overdue(now.Add(-20*time.Minute), now); over {
		t.Fatal("a run 20 minutes ago is not overdue")
	}
	if due, over := s.Overdue(now.Add(-5*time.Hour), now); !over || !due.Equal(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("a run 5 hours ago: overdue=%v due=%s", over, due)
	}
	if _, over := s.Overdue(time.Time{}, now); !over {
		t.Fatal("never run is overdue")
	}
}
