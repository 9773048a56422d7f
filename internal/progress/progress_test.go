package progress

import (
	"testing"
	"time"
)

func TestThrottlePassesPhaseChangesAndPacesTheRest(t *testing.T) {
	var got []string
	report := Throttle(time.Hour, func(s string) string { return s[:1] }, func(s string) { got = append(got, s) })
	for _, s := range []string{"a1", "a2", "a3", "b1", "b2", "a4"} {
		report(s)
	}
	want := []string{"a1", "b1", "a4"}
	if len(got) != len(want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("emitted %v, want %v", got, want)
		}
	}
	every := 0
	report = Throttle(0, func(string) string { return "same" }, func(string) { every++ })
	report("x")
	report("y")
	if every != 2 {
		t.Fatalf("with no interval, %d of 2 reports emitted", every)
	}
}

func TestMBps(t *testing.T) {
	if r := MBps(5e6, 2*time.Second); r != 2.5 {
		t.Fatalf("MBps = %v, want 2.5", r)
	}
	if r := MBps(5e6, 0); r != 0 {
		t.Fatalf("MBps before any time = %v, want 0", r)
	}
}
