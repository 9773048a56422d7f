package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// startProfile writes a CPU profile of the whole command to the file named
// by LIFEBOAT_CPUPROFILE, and a heap profile at exit to LIFEBOAT_MEMPROFILE
// (with a line on stderr saying how many part buffers the streamed uploads
// took and how long they waited for one: what the cap on them cost).
// The benchmark scripts use them to see where a restore or a push spends its
// CPU seconds; an environment variable rather than a flag, so every command
// (and archive_command) can be profiled without changing its arguments.
// LIFEBOAT_RUSAGE names a file that gets, at exit, the command's own CPU
// seconds apart from its children's (the pg_dump processes of tenant dumps):
// `time` adds them together.
// The returned function stops the profiles.
func startProfile() func() {
	stops := []func(){}
	if path := os.Getenv("LIFEBOAT_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lifeboat: LIFEBOAT_CPUPROFILE:", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("LIFEBOAT_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err == nil {
				runtime.GC()
				err = pprof.WriteHeapProfile(f)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "lifeboat: LIFEBOAT_MEMPROFILE:", err)
			}
			b := objectstore.StreamBuffers()
			fmt.Fprintf(os.Stderr, "lifeboat: part buffers of %d MiB: at most %d taken at once (cap %d), %d allocated, %d waits for one, %.2f s waiting\n",
				b.Size>>20, b.Peak, b.Limit, b.Allocated, b.Waits, b.Waited.Seconds())
		})
	}
	if path := os.Getenv("LIFEBOAT_RUSAGE"); path != "" {
		stops = append(stops, func() { writeRusage(path) })
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// writeRusage writes "self_user self_sys children_user children_sys" in
// seconds, and the peak RSS in KiB, on one line.
func writeRusage(path string) {
	var self, children syscall.Rusage
	err := syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	if err == nil {
		err = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	}
	if err == nil {
		secs := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
		err = os.WriteFile(path, fmt.Appendf(nil, "%.3f %.3f %.3f %.3f %d\n", secs(self.Utime), secs(self.Stime),
			secs(children.Utime), secs(children.Stime), self.Maxrss), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat: LIFEBOAT_RUSAGE:", err)
	}
}
