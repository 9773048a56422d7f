package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRusageSeparatesChildren: LIFEBOAT_RUSAGE's line puts the CPU of the
// child processes (tenant dumps' pg_dump) apart from the command's own, as
// bench-dumps.sh reads it: a child's busy loop shows in the children's
// seconds, not in the command's.
func TestRusageSeparatesChildren(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) (self, children float64) {
		t.Helper()
		path := filepath.Join(dir, name)
		writeRusage(path)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(raw))
		if len(fields) != 5 {
			t.Fatalf("rusage line %q: want self user, self sys, children user, children sys, peak RSS", raw)
		}
		v := make([]float64, 5)
		for i, f := range fields {
			if v[i], err = strconv.ParseFloat(f, 64); err != nil {
				t.Fatalf("field %d of %q: %v", i, raw, err)
			}
		}
		if v[4] <= 0 {
			t.Fatalf("peak RSS %v KiB: %q", v[4], raw)
		}
		return v[0] + v[1], v[2] + v[3]
	}
	self0, children0 := read("before")
	// A child that burns CPU and is waited for, as pg_dump is.
	if err := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").Run(); err != nil {
		t.Fatal(err)
	}
	self1, children1 := read("after")
	if d := children1 - children0; d < 0.05 || self1-self0 >= d {
		t.Fatalf("across a child's busy loop: children +%.3f s, self +%.3f s; want the loop in the children's", d, self1-self0)
	}
}
