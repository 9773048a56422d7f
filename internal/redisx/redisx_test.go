package redisx

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Redis: true}))
}

func ptr(s string) *string { return &s }

func TestDesired(t *testing.T) {
	for _, tc := range []struct {
		name        string
		class       Class
		o           Overrides
		want        Settings
		wantErr     error
		wantSetting string
	}{
		{name: "cache", class: ClassCache,
			want: Settings{Save: "", AppendOnly: false, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "allkeys-lru"}},
		{name: "session", class: ClassSession,
			want: Settings{Save: DefaultSave, AppendOnly: true, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "volatile-lru"}},
		{name: "queue", class: ClassQueue,
			want: Settings{Save: DefaultSave, AppendOnly: true, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "noeviction"}},
		{name: "queue always", class: ClassQueue, o: Overrides{AppendFsync: "always", Save: ptr(" 900  1 ")},
			want: Settings{Save: "900 1", AppendOnly: true, AppendFsync: "always", AOFUseRDBPreamble: true, MaxmemoryPolicy: "noeviction"}},
		{name: "session volatile-ttl", class: ClassSession, o: Overrides{MaxmemoryPolicy: "volatile-ttl"},
			want: Settings{Save: DefaultSave, AppendOnly: true, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "volatile-ttl"}},
		{name: "cache lfu", class: ClassCache, o: Overrides{MaxmemoryPolicy: "allkeys-lfu", Save: ptr("")},
			want: Settings{Save: "", AppendOnly: false, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "allkeys-lfu"}},
		{name: "always on a cache", class: ClassCache, o: Overrides{AppendFsync: "always"}, wantErr: ErrCacheOverride, wantSetting: "appendfsync"},
		{name: "save on a cache", class: ClassCache, o: Overrides{Save: ptr("60 1")}, wantErr: ErrCacheOverride, wantSetting: "save"},
		{name: "evicting queue", class: ClassQueue, o: Overrides{MaxmemoryPolicy: "allkeys-lru"}, wantErr: ErrEvictingQueue, wantSetting: "maxmemory-policy"},
		{name: "volatile queue", class: ClassQueue, o: Overrides{MaxmemoryPolicy: "volatile-lru"}, wantErr: ErrEvictingQueue, wantSetting: "maxmemory-policy"},
		{name: "allkeys session", class: ClassSession, o: Overrides{MaxmemoryPolicy: "allkeys-lru"}, wantErr: ErrInvalidSetting, wantSetting: "maxmemory-policy"},
		{name: "odd save", class: ClassSession, o: Overrides{Save: ptr("60")}, wantErr: ErrInvalidSetting, wantSetting: "save"},
		{name: "bad save", class: ClassSession, o: Overrides{Save: ptr("60 x")}, wantErr: ErrInvalidSetting, wantSetting: "save"},
		{name: "bad fsync", class: ClassQueue, o: Overrides{AppendFsync: "sometimes"}, wantErr: ErrInvalidSetting, wantSetting: "appendfsync"},
		{name: "unknown class", class: "archive", wantErr: ErrUnknownClass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Desired(tc.class, tc.o)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				var se *SettingError
				if tc.wantSetting != "" && (!errors.As(err, &se) || se.Setting != tc.wantSetting) {
					t.Fatalf("err = %v does not name the setting %s", err, tc.wantSetting)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Desired = %+v, %v; want %+v", got, err, tc.want)
			}
			if Infer(got) != tc.class {
				t.Errorf("Infer(%+v) = %s, want %s: import would adopt the wrong class", got, Infer(got), tc.class)
			}
		})
	}
	if ClassCache.Decision() != "rebuild" || ClassSession.Decision() != "restore" || ClassQueue.Decision() != "restore" {
		t.Fatal("decisions: cache rebuilds, session and queue restore")
	}
}

func connect(t *testing.T, addr string) *redis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Each class converges, reads back as declared, and survives a restart
// because CONFIG REWRITE wrote it to the config file.
func TestApply_classesPersistAcrossRestart(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	for _, class := range []Class{ClassSession, ClassQueue, ClassCache} {
		t.Run(string(class), func(t *testing.T) {
			want, err := Desired(class, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			c := connect(t, env.Redis.Addr)
			st, err := Apply(ctx, c, want)
			if err != nil {
				t.Fatal(err)
			}
			if st.Settings != want || st.Persistence.AOFEnabled != want.AppendOnly {
				t.Fatalf("read back %+v (aof_enabled %v), want %+v", st.Settings, st.Persistence.AOFEnabled, want)
			}
			if st.ConfigFile != env.Redis.ConfigPath {
				t.Fatalf("config_file = %q, want %q", st.ConfigFile, env.Redis.ConfigPath)
			}
			if err := env.Redis.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			c = connect(t, env.Redis.Addr)
			st, err = Read(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if d := Diff(want, st.Settings); len(d) > 0 {
				t.Fatalf("after restart %v differ: %+v, want %+v", d, st.Settings, want)
			}
		})
	}
}

// Settings changed outside show in Diff, and Apply brings them back.
func TestApply_driftBack(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := connect(t, env.Redis.Addr)
	want, _ := Desired(ClassQueue, Overrides{AppendFsync: "always"})
	if _, err := Apply(ctx, c, want); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "CONFIG", "SET", "appendonly", "no", "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	st, err := Read(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(want, st.Settings); strings.Join(d, ",") != "appendonly,maxmemory-policy" {
		t.Fatalf("Diff = %v, want appendonly and maxmemory-policy", d)
	}
	st, err = Apply(ctx, c, want)
	if err != nil {
		t.Fatal(err)
	}
	if st.Settings != want {
		t.Fatalf("after apply %+v, want %+v", st.Settings, want)
	}
}

// A server without a config file keeps the settings live but Apply says
// they would not survive a restart.
func TestApply_noConfigFile(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := testenv.StartRedisWithoutConfig(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	c := connect(t, r.Addr)
	want, _ := Desired(ClassSession, Overrides{})
	st, err := Apply(ctx, c, want)
	var rw *RewriteError
	if !errors.As(err, &rw) || !errors.Is(err, ErrNoConfigFile) {
		t.Fatalf("Apply without a config file: err = %v, want a *RewriteError wrapping ErrNoConfigFile", err)
	}
	if st.Settings != want {
		t.Fatalf("settings %+v, want them live anyway: %+v", st.Settings, want)
	}
	if !strings.Contains(err.Error(), "config file") {
		t.Fatalf("message %q does not say what to do", err)
	}
}

// A BGSAVE that cannot write shows in Problems; a good one shows none.
func TestPersistence_failedBgsave(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	r, err := testenv.StartRedisWithoutConfig(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	c := connect(t, r.Addr)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	st := bgsaveWait(t, c)
	if p := st.Persistence.Problems(); len(p) != 0 || time.Since(st.Persistence.LastSave) > time.Minute {
		t.Fatalf("Problems = %q, last save %s after a good BGSAVE", p, st.Persistence.LastSave)
	}
	// NOTE: tests run as root, so permissions cannot make the directory
	// unwritable (and Redis 7 refuses CONFIG SET dir); a working directory
	// removed under the server can.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	st = bgsaveWait(t, c)
	if p := st.Persistence.Problems(); len(p) != 1 || !strings.Contains(p[0], "BGSAVE failed") || !strings.Contains(p[0], "1 changes since") {
		t.Fatalf("Problems = %q after a failed BGSAVE (status %q)", p, st.Persistence.LastBgsaveStatus)
	}
}

func bgsaveWait(t *testing.T, c *redis.Client) State {
	t.Helper()
	ctx := context.Background()
	if err := c.BgSave(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := Read(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Persistence.BgsaveInProgress {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("BGSAVE still running after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
