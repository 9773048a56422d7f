package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

// startProfile writes a CPU profile of the provider process to
// $LIFEBOAT_CPUPROFILE.<pid>, and a heap profile at exit to
// $LIFEBOAT_MEMPROFILE.<pid>, as the lifeboat command does for its own
// commands. The pid is appended because Terraform starts the provider
// several times per command (schema, validation, plan), each its own
// process; tools/scripts/bench-plan.sh merges them. The returned function
// stops the profiles; it runs when Terraform ends the plugin.
func startProfile() func() {
	var stops []func()
	pid := "." + strconv.Itoa(os.Getpid())
	if path := os.Getenv("LIFEBOAT_CPUPROFILE"); path != "" {
		f, err := os.Create(path + pid)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "terraform-provider-lifeboat: LIFEBOAT_CPUPROFILE:", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); _ = f.Close() })
		}
	}
	if path := os.Getenv("LIFEBOAT_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path + pid)
			if err == nil {
				runtime.GC()
				err = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "terraform-provider-lifeboat: LIFEBOAT_MEMPROFILE:", err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
