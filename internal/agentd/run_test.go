package agentd

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestDue(t *testing.T) {
	slot := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	now := slot.Add(10 * time.Minute)
	for _, tc := range []struct {
		name string
		last *Run
		want bool
	}{
		{"never run", nil, true},
		{"older slot done", &Run{Slot: slot.Add(-time.Hour), Result: ResultSuccess}, true},
		{"this slot done", &Run{Slot: slot, Result: ResultSuccess}, false},
		{"this slot failed, retry delay passed", &Run{Slot: slot, Result: ResultFailure, Attempts: 1, Finished: now.Add(-6 * time.Minute)}, true},
		{"this slot failed just now", &Run{Slot: slot, Result: ResultFailure, Attempts: 1, Finished: now.Add(-time.Minute)}, false},
		{"this slot failed 3 times", &Run{Slot: slot, Result: ResultFailure, Attempts: 3, Finished: now.Add(-time.Hour)}, false},
		{"a newer slot done (clock behind)", &Run{Slot: slot.Add(time.Hour), Result: ResultSuccess}, false},
	} {
		if got := Due(slot, tc.last, now, 5*time.Minute, 3); got != tc.want {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
	if Due(time.Time{}, nil, now, 0, 3) {
		t.Error("a schedule that never fired is due")
	}
}

func TestSlotIsStableWithinAPeriod(t *testing.T) {
	for _, expr := range []string{"* * * * *", "@every 1m", "@every 10m", "0 2 * * *"} {
		s, err := schedule.Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
		a, b := Slot(s, base.Add(time.Second)), Slot(s, base.Add(59*time.Second))
		if a.IsZero() || !a.Equal(b) || a.After(base.Add(time.Second)) {
			t.Errorf("%s: slots %s and %s within one minute", expr, a, b)
		}
	}
	s, _ := schedule.Parse("@every 1m")
	if got := Slot(s, time.Date(2026, 3, 4, 5, 6, 59, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)) {
		t.Errorf("@every 1m slot %s", got)
	}
}
