package restore

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/progress"
)

// Progress is a snapshot of a running restore, for logs and the
// provider's apply output.
type Progress struct {
	// Phase is one of "planning", "downloading", "starting", "recovering",
	// "stopping", "done" (cluster), and "pg_restore", "pg_dump",
	// "attachments" (tenant).
	Phase string
	// Downloaded and Total are stored (compressed) bytes of the backup;
	// Extracted is the bytes of files written into the data directory.
	Downloaded int64
	Total      int64
	Extracted  int64
	Elapsed    time.Duration
	// Detail is a short human-readable note (the segment being replayed,
	// the database being dumped).
	Detail string
}

// Rate is the download throughput in MB/s (10^6 bytes).
func (p Progress) Rate() float64 { return progress.MBps(p.Downloaded, p.Elapsed) }

// LogProgress returns a Progress callback that prints a line to w at most
// every interval, and always when the phase changes.
func LogProgress(w io.Writer, interval time.Duration) func(Progress) {
	return progress.Throttle(interval, func(p Progress) string { return p.Phase }, func(p Progress) {
		line := fmt.Sprintf("lifeboat: restore %s", p.Phase)
		if p.Total > 0 || p.Downloaded > 0 {
			line += fmt.Sprintf(": %.1f/%.1f MB downloaded, %.1f MB extracted, %.1f MB/s", float64(p.Downloaded)/1e6,
				float64(p.Total)/1e6, float64(p.Extracted)/1e6, p.Rate())
		}
		if p.Detail != "" {
			line += " (" + p.Detail + ")"
		}
		fmt.Fprintf(w, "%s, %s\n", line, p.Elapsed.Round(100*time.Millisecond))
	})
}

// reporter sends Progress with the elapsed time filled in.
type reporter struct {
	fn    func(Progress)
	start time.Time
}

func (r reporter) send(p Progress) {
	if r.fn == nil {
		return
	}
	p.Elapsed = time.Since(r.start)
	r.fn(p)
}

// PhaseTime is how long one phase of a cluster restore took (Result.Phases):
// "planned", "laid out" (downloaded, decoded and written), "synced" (the
// wait for the last files to reach the disk), "settings", "server started"
// (pg_ctl start), "recovered" (the server's own start-up sync, WAL replay
// and promotion, until it accepts connections), "finished" (the checks of
// where replay got to, the spool and the failure marker removed).
type PhaseTime struct {
	Phase string
	Took  time.Duration
}

// phaseClock records PhaseTimes, each from the previous mark.
type phaseClock struct {
	last time.Time
	list []PhaseTime
}

func (c *phaseClock) mark(phase string) {
	if c == nil {
		return
	}
	now := time.Now()
	c.list = append(c.list, PhaseTime{Phase: phase, Took: now.Sub(c.last)})
	c.last = now
}

// FormatPhases is phases as one line: "planned 0.05s, laid out 2.51s, ...".
func FormatPhases(phases []PhaseTime) string {
	parts := make([]string, len(phases))
	for i, p := range phases {
		parts[i] = fmt.Sprintf("%s %.2fs", p.Phase, p.Took.Seconds())
	}
	return strings.Join(parts, ", ")
}
