package backup

import (
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/progress"
)

// Progress is a snapshot of a running backup, for logs and the provider's
// apply output.
type Progress struct {
	// ID is the backup id; Database is set for tenant dumps.
	ID       string
	Database string
	// Phase is "checkpoint", "streaming", "manifest" or "done".
	Phase string
	// Read is the uncompressed bytes PostgreSQL reported sending (physical)
	// or pg_dump wrote (tenant); Stored the bytes handed to the store.
	Read    int64
	Stored  int64
	Elapsed time.Duration
}

// Rate is the read throughput in MB/s (10^6 bytes).
func (p Progress) Rate() float64 {
	b := p.Read
	if b == 0 {
		b = p.Stored
	}
	return progress.MBps(b, p.Elapsed)
}

// LogProgress returns a Progress callback that prints a line to w at most
// every interval, and always for phase changes.
func LogProgress(w io.Writer, interval time.Duration) func(Progress) {
	return progress.Throttle(interval, func(p Progress) string { return p.Phase }, func(p Progress) {
		what := p.ID
		if p.Database != "" {
			what = p.Database + "/" + p.ID
		}
		fmt.Fprintf(w, "lifeboat: backup %s %s: %.1f MB read, %.1f MB stored, %.1f MB/s, %s\n",
			what, p.Phase, float64(p.Read)/1e6, float64(p.Stored)/1e6, p.Rate(), p.Elapsed.Round(100*time.Millisecond))
	})
}
