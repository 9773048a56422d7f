// Package progress paces the progress lines of long operations (backups,
// restores): each package keeps its own report type and wording.
package progress

import (
	"sync"
	"time"
)

// Throttle returns a report callback that passes reports on to emit at most
// once every interval, and always when phase(report) changes. It is safe
// for concurrent use; emit is never called concurrently.
func Throttle[P any](interval time.Duration, phase func(P) string, emit func(P)) func(P) {
	var mu sync.Mutex
	var last time.Time
	var lastPhase string
	return func(p P) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if ph := phase(p); ph != lastPhase || now.Sub(last) >= interval {
			last, lastPhase = now, ph
			emit(p)
		}
	}
}

// MBps is a throughput in MB/s (10^6 bytes); 0 before any time passed.
func MBps(bytes int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(bytes) / 1e6 / elapsed.Seconds()
}
