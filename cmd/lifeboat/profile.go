package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole command to the file named
// by LIFEBOAT_CPUPROFILE, and a heap profile at exit to LIFEBOAT_MEMPROFILE.
// The benchmark scripts use them to see where a restore or a push spends its
// CPU seconds; an environment variable rather than a flag, so every command
// (and archive_command) can be profiled without changing its arguments.
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
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
