// Command devenv starts the demo's services (MinIO, PostgreSQL 15, Redis)
// detached on loopback, with the same harness the acceptance tests use, and
// stops them again.
//
//	go run ./internal/testenv/devenv up   -dir .demo/services
//	go run ./internal/testenv/devenv down -dir .demo/services
//
// `up` writes <dir>/env.sh with the endpoints and credentials to source.
// `seed` creates Odoo-like tenant databases with attachments in a filestore
// bucket; `incident` makes the accident the demo restores from; `writer`
// creates the MinIO user the demo's agent writes as, from the writer's
// policy document, and prints its keys as TF_VAR_ exports; `auditor` the
// user whose keys posture report reads the bucket's configuration with,
// from the auditor's document (LIFEBOAT_AUDITOR_* exports).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: devenv up|down|seed|incident|writer|auditor [flags]")
	}
	switch args[0] {
	case "seed":
		return runSeed(args[1:], false)
	case "incident":
		return runSeed(args[1:], true)
	case "writer":
		return runWriter(args[1:])
	case "auditor":
		return runAuditor(args[1:])
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".demo/services", "folder for service data, logs, pid files and env.sh")
	minio := fs.Int("minio", 1, "number of MinIO servers (2 stand in for two regions)")
	postgres := fs.Bool("postgres", true, "start PostgreSQL 15")
	redis := fs.Bool("redis", true, "start Redis")
	archiveReady := fs.Bool("archive-ready", false,
		"start PostgreSQL with archive_mode = on and an empty archive_command (WAL is kept until a command is set, no restart needed then)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch args[0] {
	case "down":
		if err := testenv.StopDetached(abs); err != nil {
			return err
		}
		fmt.Println("services stopped; data left in", abs)
		return nil
	case "up":
		if err := testenv.StopDetached(abs); err != nil {
			return err
		}
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return err
		}
		var conf []string
		if *archiveReady {
			conf = append(conf, "archive_mode = on", "archive_command = ''")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		env, err := testenv.Start(ctx, abs, testenv.Spec{MinIO: *minio, Postgres: *postgres, Redis: *redis, Detached: true, PostgresConf: conf})
		if err != nil {
			return err
		}
		for name, pid := range env.Pids() {
			if err := os.WriteFile(filepath.Join(abs, name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
				return err
			}
		}
		envVars := env.EnvFile()
		var cache *testenv.Redis
		if *redis {
			// A second Redis for the quickstart's cache: a session store
			// (restored) and a cache (rebuilt) are separate instances.
			if cache, err = testenv.StartRedis(ctx, filepath.Join(abs, "redis-cache"), true); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(abs, "redis-cache.pid"), []byte(strconv.Itoa(cache.Pid())+"\n"), 0o644); err != nil {
				return err
			}
			envVars += fmt.Sprintf("export LIFEBOAT_REDIS_CACHE_ADDR=%q\n", cache.Addr)
		}
		envFile := filepath.Join(abs, "env.sh")
		if err := os.WriteFile(envFile, []byte(envVars), 0o600); err != nil {
			return err
		}
		for _, m := range env.MinIO {
			fmt.Printf("minio      %s (data %s, log %s)\n", m.Endpoint, m.Dir, m.LogPath)
		}
		if pg := env.Postgres; pg != nil {
			fmt.Printf("postgres   %s:%d (data %s, log %s)\n", pg.Host, pg.Port, pg.DataDir, pg.LogPath)
		}
		if r := env.Redis; r != nil {
			fmt.Printf("redis      %s (log %s)\n", r.Addr, r.LogPath)
		}
		if cache != nil {
			fmt.Printf("redis      %s (cache; log %s)\n", cache.Addr, cache.LogPath)
		}
		fmt.Printf("env        source %s\n", envFile)
		return nil
	}
	return fmt.Errorf("unknown command %q: want up or down", args[0])
}
