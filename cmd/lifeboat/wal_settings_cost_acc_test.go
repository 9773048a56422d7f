package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccWalPushSettingsCost measures what reading the WAL settings from
// the repository costs one wal-push of a 16 MiB segment (real binary,
// MinIO on loopback), as CPU seconds and wall time, median of ROUNDS
// (LIFEBOAT_WAL_SETTINGS_ROUNDS, default 5) interleaved pushes:
//
//   - bootstrap: no document in the repository, the local copy records
//     that (what wal-push did before: the bootstrap's settings, no read);
//   - per push: a signed document, wal_settings_max_age 0s (a GET and a
//     signature check on every push);
//   - cached: a signed document, the local verified copy fresh (the
//     signature checked again, no GET).
//
// Every variant compresses with zstd, so only the settings' cost differs;
// every segment lands with that codec. The numbers are
// logged; on a shared machine compare within one run only.
func TestAccWalPushSettingsCost(t *testing.T) {
	env := testenv.Require(t)
	if os.Getenv("LIFEBOAT_WAL_SETTINGS_COST") == "" {
		t.Skip("set LIFEBOAT_WAL_SETTINGS_COST=1 to measure")
	}
	ctx := context.Background()
	rounds := envInt("LIFEBOAT_WAL_SETTINGS_ROUNDS", 5)
	f := setupAgentRepo(t, env, fmt.Sprintf("walset-cost-%08x", rand.Uint32()))
	signer, _ := signature.Generate()
	segDir := t.TempDir()
	type variant struct {
		name, cfgPath, codec string
		wall, cpu            []time.Duration
		layout               repo.Layout
	}
	var vs []*variant
	for i, v := range []struct {
		name, maxAge, codec string
		doc                 bool
	}{{"bootstrap", "30s", "zstd", false}, {"per-push", "0s", "zstd", true}, {"cached", "1h", "zstd", true}} {
		cfg := f.cfg
		cfg.Cluster = fmt.Sprintf("cost-%d", i)
		cfg.TrustedKeys = []string{signer.Public().String()}
		cfg.StateDir = filepath.Join(t.TempDir(), "state")
		cfg.WALSettingsMaxAge = v.maxAge
		if v.doc {
			if err := repo.WriteWALSettings(ctx, f.store, cfg.Layout(), repo.WALSettings{Compression: v.codec}, signer); err != nil {
				t.Fatal(err)
			}
		}
		vs = append(vs, &variant{name: v.name, cfgPath: writeBootstrap(t, cfg), codec: v.codec, layout: cfg.Layout()})
	}
	// Segments half random, half zero: compressible about 2x, like busy WAL.
	seg := 0
	nextSegment := func() string {
		seg++
		name := fmt.Sprintf("0000000100000007%08X", seg)
		b := make([]byte, 16<<20)
		r := rand.New(rand.NewPCG(uint64(seg), 7))
		for i := 0; i < len(b); i += 8192 {
			for j := i; j < i+4096 && j < len(b); j += 8 {
				v := r.Uint64()
				for k := 0; k < 8; k++ {
					b[j+k] = byte(v >> (8 * k))
				}
			}
		}
		p := filepath.Join(segDir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	push := func(v *variant, p string) (wall, cpu time.Duration) {
		cmd := exec.Command(f.bin, "wal-push", "--config", v.cfgPath, "--pgdata", env.Postgres.DataDir, "--parallel", "1", p)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: wal-push: %v\n%s", v.name, err, out)
		}
		wall = time.Since(start)
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	for _, v := range vs { // warm up: cluster.json, the local copy
		push(v, nextSegment())
	}
	for range rounds {
		for _, v := range vs {
			w, c := push(v, nextSegment())
			v.wall, v.cpu = append(v.wall, w), append(v.cpu, c)
		}
	}
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, v := range vs {
		codecs := map[string]int{}
		err := f.store.List(ctx, v.layout.WALDir(), func(o objectstore.ObjectInfo) error {
			if k, ok := v.layout.Parse(o.Key); ok && k.Kind == repo.KindWAL {
				codecs[k.Ext]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ext := map[string]string{"zstd": "zst", "lz4": "lz4"}[v.codec]; codecs[ext] != rounds+1 || len(codecs) != 1 {
			t.Errorf("%s: archived segments by codec %v, want %d %s", v.name, codecs, rounds+1, ext)
		}
		t.Logf("%-9s one 16 MiB wal-push: wall median %6.1f ms, CPU median %6.1f ms (%d rounds)", v.name,
			float64(median(v.wall).Microseconds())/1000, float64(median(v.cpu).Microseconds())/1000, rounds)
	}
}
