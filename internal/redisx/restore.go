package redisx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Latest names the newest snapshot in a restore request.
const Latest = "latest"

// ErrTargetInUse says a restore target directory holds something that is
// not a restore of ours: it is never written over.
var ErrTargetInUse = errors.New("restore target directory is not empty")

// ErrCheckFailed says a restored instance failed its checks.
var ErrCheckFailed = errors.New("restored Redis failed its checks")

// markerFile marks a directory as a Redis restore of Lifeboat: Teardown
// removes only such directories, and a failed restore is started over.
const markerFile = "LIFEBOAT_REDIS_RESTORE"

// FindSnapshot resolves id (Latest or "" for the newest) to the manifest of
// one complete snapshot of instance: what a restore plan names.
func FindSnapshot(ctx context.Context, store objectstore.Store, layout repo.Layout, instance, id string) (*SnapshotManifest, error) {
	if id == "" || id == Latest {
		all, err := Snapshots(ctx, store, layout, instance)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("%w: no snapshot of %q under %s", ErrSnapshotNotFound, instance, layout.RedisDir())
		}
		return &all[len(all)-1], nil
	}
	return readManifest(ctx, store, layout, instance, id)
}

// RestoreTarget is the new instance a snapshot is loaded into.
type RestoreTarget struct {
	// Dir is a new (or empty) directory: the instance's config, data, log
	// and pid file live in it.
	Dir  string
	Port int
	// RedisServer is the redis-server program (default "redis-server").
	RedisServer string
	// Password, when set, is the new instance's requirepass.
	Password string
	// Identities decrypt an encrypted snapshot (crypt.LoadIdentities).
	Identities *crypt.Keyring
}

// RestoreChecks are what must hold on the restored instance.
type RestoreChecks struct {
	// MinKeys is the key count floor (DBSIZE over every database).
	MinKeys int64
	// Keys must each exist.
	Keys []string
}

// Restored is a started restore.
type Restored struct {
	Manifest *SnapshotManifest
	Addr     string
	Keys     int64 // keys in every database
}

// RestoreInto loads snapshot id of instance into a new redis-server in
// target.Dir on target.Port (started daemonized, so it outlives the
// caller), waits until it has loaded the RDB, and checks it. The snapshot
// is checked against its manifest before Redis sees it. A failed check
// leaves the instance running for inspection and returns an error wrapping
// ErrCheckFailed; Teardown removes it.
func RestoreInto(ctx context.Context, store objectstore.Store, layout repo.Layout, instance, id string, target RestoreTarget, checks RestoreChecks) (*Restored, error) {
	if !filepath.IsAbs(target.Dir) {
		return nil, fmt.Errorf("%w: target directory %q must be absolute", ErrInvalidSetting, target.Dir)
	}
	if target.Port <= 0 || target.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d", ErrInvalidSetting, target.Port)
	}
	if err := prepareTarget(ctx, target); err != nil {
		return nil, err
	}
	data := filepath.Join(target.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	m, err := RestoreSnapshot(ctx, store, layout, instance, id, data, target.Identities)
	if err != nil {
		return nil, err
	}
	conf := []string{
		"port " + strconv.Itoa(target.Port), "bind 127.0.0.1", "protected-mode yes",
		"dir " + quoteConf(data), "dbfilename dump.rdb",
		// NOTE: the AOF off while the RDB loads: with it on and no AOF
		// file, Redis would start empty. Persistence is the operator's to
		// declare on the new instance (lifeboat_redis_persistence).
		"appendonly no", `save ""`,
		"daemonize yes", "pidfile " + quoteConf(filepath.Join(target.Dir, "redis.pid")),
		"logfile " + quoteConf(filepath.Join(target.Dir, "redis.log")),
	}
	if target.Password != "" {
		conf = append(conf, "requirepass "+quoteConf(target.Password))
	}
	confPath := filepath.Join(target.Dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	bin := target.RedisServer
	if bin == "" {
		bin = "redis-server"
	}
	if out, err := exec.CommandContext(ctx, bin, confPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w: %s", bin, confPath, err, strings.TrimSpace(string(out)))
	}
	r := &Restored{Manifest: m, Addr: fmt.Sprintf("127.0.0.1:%d", target.Port)}
	c, err := waitLoaded(ctx, r.Addr, target.Password, target.Dir)
	if err != nil {
		return r, err
	}
	defer func() { _ = c.Close() }()
	if r.Keys, err = keyCount(ctx, c); err != nil {
		return r, err
	}
	var failed []string
	if r.Keys < checks.MinKeys {
		failed = append(failed, fmt.Sprintf("%d keys, fewer than the floor %d", r.Keys, checks.MinKeys))
	}
	for _, k := range checks.Keys {
		n, err := c.Exists(ctx, k).Result()
		if err != nil {
			return r, err
		}
		if n == 0 {
			failed = append(failed, fmt.Sprintf("key %q missing", k))
		}
	}
	if len(failed) > 0 {
		return r, fmt.Errorf("%w: snapshot %s of %s on %s: %s", ErrCheckFailed, m.ID, instance, r.Addr, strings.Join(failed, "; "))
	}
	return r, nil
}

// prepareTarget makes sure target.Dir can take a restore: absent, empty,
// or a previous restore of ours (stopped and cleared: a failed attempt
// starts over). Anything else is refused, never written over.
func prepareTarget(ctx context.Context, target RestoreTarget) error {
	entries, err := os.ReadDir(target.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(target.Dir, 0o700); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(target.Dir, markerFile)); err != nil {
			return fmt.Errorf("%w: %s holds %d entries and is no Redis restore of Lifeboat: choose a new directory", ErrTargetInUse, target.Dir, len(entries))
		}
		if err := Teardown(ctx, target.Dir, target.Port, target.Password); err != nil {
			return err
		}
		if err := os.MkdirAll(target.Dir, 0o700); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(target.Dir, markerFile), []byte("a Redis restore of Lifeboat: removed with it\n"), 0o600)
}

// waitLoaded waits until the server at addr, started from dir's config
// file, answers and has loaded its data (INFO persistence loading:0).
// Another server on that port is an error, never taken for the restore.
func waitLoaded(ctx context.Context, addr, password, dir string) (*redis.Client, error) {
	logPath := filepath.Join(dir, "redis.log")
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		c, err := Connect(ctx, Options{Addr: addr, Password: password})
		if err == nil {
			if !ours(ctx, c, dir) {
				_ = c.Close()
				tail, _ := os.ReadFile(logPath)
				return nil, fmt.Errorf("%w: port of %s is taken by another Redis; choose a free port. Log of the restore:\n%s", ErrTargetInUse, addr, lastLines(string(tail), 10))
			}
			p, err := info(ctx, c, "persistence")
			if err == nil && p["loading"] == "0" {
				return c, nil
			}
			_ = c.Close()
			last = err
		} else {
			last = err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	tail, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("the restored Redis at %s did not load within 2 minutes: %w; log:\n%s", addr, last, lastLines(string(tail), 10))
}

// keyCount is the number of keys over every database.
func keyCount(ctx context.Context, c *redis.Client) (int64, error) {
	ks, err := info(ctx, c, "keyspace")
	if err != nil {
		return 0, err
	}
	var n int64
	for db, v := range ks {
		if !strings.HasPrefix(db, "db") {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if k, ok := strings.CutPrefix(f, "keys="); ok {
				x, _ := strconv.ParseInt(k, 10, 64)
				n += x
			}
		}
	}
	return n, nil
}

// Running reports whether the restored instance of dir answers on port.
func Running(ctx context.Context, dir string, port int, password string) bool {
	c, err := Connect(ctx, Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password})
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	return ours(ctx, c, dir)
}

// Teardown stops the restored instance in dir (SHUTDOWN NOSAVE on port)
// and removes dir. A directory without the restore marker is refused:
// only what RestoreInto made is ever removed.
func Teardown(ctx context.Context, dir string, port int, password string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("%w: %s has no %s marker: not removed", ErrTargetInUse, dir, markerFile)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if c, err := Connect(ctx, Options{Addr: addr, Password: password}); err == nil && ours(ctx, c, dir) {
		_ = c.Do(ctx, "SHUTDOWN", "NOSAVE").Err() // NOTE: the connection drops: no reply
		_ = c.Close()
		deadline := time.Now().Add(30 * time.Second)
		for Running(ctx, dir, port, password) {
			if time.Now().After(deadline) {
				return fmt.Errorf("the restored Redis at %s did not stop within 30s", addr)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return os.RemoveAll(dir)
}

// ours reports whether the server c reaches runs from dir's config file:
// a restore only ever checks or stops its own instance.
func ours(ctx context.Context, c *redis.Client, dir string) bool {
	server, err := info(ctx, c, "server")
	return err == nil && server["config_file"] == filepath.Join(dir, "redis.conf")
}

func quoteConf(s string) string { return strconv.Quote(s) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// KeptPlanTTL is how long PlanKept names the snapshot an earlier plan of
// the same restore named.
const KeptPlanTTL = 7 * 24 * time.Hour

type keptPlan struct {
	Format   int       `json:"format"`
	Instance string    `json:"instance"`
	Snapshot string    `json:"snapshot"`
	Planned  time.Time `json:"planned"`
}

// PlanKept is FindSnapshot for a restore that is reviewed first and
// applied later (`terraform plan -out`, then `terraform apply` of it). It
// also returns when the restore was first planned: the snapshot's age is
// told as of then.
//
// GOTCHA: Terraform plans every change again when it applies a saved plan
// and fails the apply if that plan names anything the first did not; the
// provider is not shown the first plan. "latest" would then name a
// snapshot taken in between, and an age computed anew would differ.
// PlanKept keeps the snapshot it chose and the time in the repository,
// under identity (a digest of the restore's definition), and names them
// again for KeptPlanTTL while the snapshot still exists; ReleaseKept
// forgets them once the restore is done. notKept says why the choice could
// not be kept (a read-only credential), with the snapshot still returned.
func PlanKept(ctx context.Context, store objectstore.Store, layout repo.Layout, instance, snapshot, identity string) (m *SnapshotManifest, planned time.Time, notKept, err error) {
	key := layout.RestorePlanKey(keptID(identity))
	if rc, _, err := store.Get(ctx, key); err == nil {
		var k keptPlan
		derr := json.NewDecoder(io.LimitReader(rc, 1<<16)).Decode(&k)
		_ = rc.Close()
		if derr == nil && k.Instance == instance && time.Since(k.Planned) < KeptPlanTTL {
			if m, err := FindSnapshot(ctx, store, layout, instance, k.Snapshot); err == nil {
				return m, k.Planned, nil, nil
			}
			// Pruned since: planned afresh.
		}
	}
	m, err = FindSnapshot(ctx, store, layout, instance, snapshot)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	planned = time.Now().UTC().Truncate(time.Second)
	body, _ := json.Marshal(keptPlan{Format: 1, Instance: instance, Snapshot: m.ID, Planned: planned})
	if _, err := store.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		notKept = fmt.Errorf("keeping the planned snapshot at %s: %w", key, err)
	}
	return m, planned, notKept, nil
}

// ReleaseKept forgets what PlanKept kept for identity.
func ReleaseKept(ctx context.Context, store objectstore.Store, layout repo.Layout, identity string) error {
	return store.Delete(ctx, layout.RestorePlanKey(keptID(identity)))
}

func keptID(identity string) string {
	sum := sha256.Sum256([]byte("redis-restore\n" + identity))
	return "redis-" + hex.EncodeToString(sum[:16])
}
