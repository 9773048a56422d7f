package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// TestAccPhysicalBackupVerify backs up a pgbench database over the
// replication protocol, verifies it, then corrupts one byte of one stored
// part and expects verification to fail naming that object.
func TestAccPhysicalBackupVerify(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	ctx := context.Background()
	pgTool(t, pg, "pgbench", "-i", "-s", "10", "-q", "postgres")

	for _, tc := range []struct {
		name   string
		client bool
		comp   string
	}{
		{"server_zstd", false, "zstd"},
		{"client_zstd", true, "zstd"},
		{"none", false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket, l := newRepo(t, env)
			store := &putOrder{Store: bucket}
			var phases []string
			m, err := backup.Take(ctx, store, backup.Options{
				Layout: l, DSN: dsn(pg), Compression: tc.comp, ClientCompression: tc.client,
				PartSize: 4 << 20,
				Progress: func(p backup.Progress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d archives, %d data bytes, %d stored, WAL %s..%s, phases %v",
				m.ID, len(m.Archives), m.DataSize, m.StoredSize, m.WALStart, m.WALStop, phases)
			if m.DataSize < 100<<20 {
				t.Fatalf("data size %d: pgbench -s 10 is bigger than that", m.DataSize)
			}
			if tc.comp == "zstd" && m.StoredSize*3 > m.DataSize {
				t.Fatalf("zstd stored %d of %d bytes: not compressed", m.StoredSize, m.DataSize)
			}
			base := m.Archives[0]
			if len(base.Parts) < 2 && tc.comp == "none" {
				t.Fatalf("base archive in %d parts, want several of 4 MiB", len(base.Parts))
			}
			if m.BackupManifest == nil || m.StartLSN == "" || m.StopLSN == "" || m.WALStart == "" {
				t.Fatalf("manifest incomplete: %+v", m)
			}

			// Safety rule: the manifest is the last object written.
			if last := store.keys[len(store.keys)-1]; last != l.BackupManifestKey(m.ID) {
				t.Fatalf("last object written %s, want the manifest; order %v", last, store.keys)
			}

			// Listed only with its manifest; verify needs its WAL.
			list, err := catalog.ListBackups(ctx, store, l)
			if err != nil || len(list) != 1 || list[0].ID != m.ID {
				t.Fatalf("ListBackups = %+v, %v", list, err)
			}
			rep, err := catalog.Verify(ctx, store, l, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("verify passed with no WAL archived")
			}
			if !strings.Contains(rep.Problems[0].Object, "/wal/") {
				t.Fatalf("first problem %+v, want the missing WAL", rep.Problems[0])
			}
			pushWAL(t, pg, store, l, m)
			rep, err = catalog.Verify(ctx, store, l, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatal(err)
			}
			if rep.Files < 500 || rep.WALSegments < 1 {
				t.Fatalf("verify checked %d files and %d WAL segments", rep.Files, rep.WALSegments)
			}
			t.Logf("verify: %d objects, %d bytes, %d files, WAL %s..%s", rep.Objects, rep.Bytes, rep.Files, rep.WALFrom, rep.WALTo)

			// Flip one byte in the middle of the last part of base.tar.
			victim := base.Parts[len(base.Parts)-1].Key
			flipByte(t, store, victim)
			rep, err = catalog.Verify(ctx, store, l, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			verr := rep.Err()
			if !errors.Is(verr, catalog.ErrVerifyFailed) {
				t.Fatalf("verify after corruption: %v", verr)
			}
			if rep.Problems[0].Object != victim || !strings.Contains(verr.Error(), victim) {
				t.Fatalf("verify names %q (%v), want %s", rep.Problems[0].Object, verr, victim)
			}
		})
	}
}

// putOrder records the keys of completed puts, in order.
type putOrder struct {
	objectstore.Store
	mu   sync.Mutex
	keys []string
}

func (p *putOrder) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	info, err := p.Store.Put(ctx, key, body, opts)
	if err == nil {
		p.mu.Lock()
		p.keys = append(p.keys, key)
		p.mu.Unlock()
	}
	return info, err
}

func flipByte(t *testing.T, store objectstore.Store, key string) {
	t.Helper()
	ctx := context.Background()
	body, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	if _, err := store.Put(ctx, key, bytes.NewReader(raw), objectstore.PutOptions{Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
}

// TestAccPhysicalBackupCancelled cancels a backup while parts are stored
// and the server has stopped sending (its walsender is SIGSTOPped): Take
// returns at once with the context's error and deletes what it stored. Only
// the watch on the context interrupts the blocked read: the stream asks
// pgconn for its messages without a context of its own, which allocated
// per message.
func TestAccPhysicalBackupCancelled(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	pgTool(t, pg, "pgbench", "-i", "-s", "2", "-q", "postgres")
	bucket, l := newRepo(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped atomic.Int64
	defer func() {
		if pid := stopped.Load(); pid != 0 {
			_ = syscall.Kill(int(pid), syscall.SIGCONT)
		}
	}()
	store := &afterParts{Store: bucket, parts: 2, then: func() {
		out := psql(t, pg, "postgres", "SELECT pid FROM pg_stat_activity WHERE application_name = 'lifeboat backup' AND backend_type = 'walsender'")
		pid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Errorf("walsender pid %q: %v", out, err)
			cancel()
			return
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Errorf("stopping the walsender: %v", err)
		}
		stopped.Store(int64(pid))
		time.Sleep(300 * time.Millisecond) // the stream blocks on the socket
		cancel()
		// Should the read not be interrupted, the server goes on after 10 s
		// and the test fails on the time taken instead of hanging.
		time.AfterFunc(10*time.Second, func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}}
	start := time.Now()
	_, err := backup.Take(ctx, store, backup.Options{
		Layout: l, DSN: dsn(pg), Compression: "none", PartSize: 1 << 20,
		MaxRate: 2048, // 2 MB/s: about 15 s for the whole database
	})
	took := time.Since(start)
	if stopped.Load() == 0 {
		t.Fatalf("the walsender was never stopped (backup: %v)", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v, want context.Canceled", err)
	}
	if took > 10*time.Second {
		t.Fatalf("cancelled backup returned after %s", took)
	}
	var left []string
	if err := bucket.List(context.Background(), l.BaseBackupsDir(), func(o objectstore.ObjectInfo) error {
		left = append(left, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("a cancelled backup left %v", left)
	}
}

// afterParts calls then, on a goroutine of its own, once parts puts
// completed.
type afterParts struct {
	objectstore.Store
	mu    sync.Mutex
	parts int
	then  func()
}

func (a *afterParts) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	info, err := a.Store.Put(ctx, key, body, opts)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		if a.parts--; a.parts == 0 {
			go a.then()
		}
	}
	return info, err
}

// TestAccPhysicalBackupPartBuffersStayCapped: a backup is one stream of
// uploads, one object after another, within one stream's part buffers. Its
// peak RSS then stays the same however many objects and parts the database
// needs; it grew with the size while an upload could take a buffer more
// whenever a part's upload was slow.
func TestAccPhysicalBackupPartBuffersStayCapped(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	pgTool(t, pg, "pgbench", "-i", "-s", "6", "-q", "postgres")
	bucket, l := newRepo(t, env)
	store := &uploadsSeen{Store: bucket}
	before := objectstore.StreamBuffers()
	objectstore.ResetStreamBufferPeak()
	m, err := backup.Take(context.Background(), store, backup.Options{
		// Uncompressed in 40 MiB objects: each is three part uploads of
		// one multipart upload (16, 16 and 8 MiB), one after another.
		Layout: l, DSN: dsn(pg), Compression: "none", PartSize: 40 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if parts := len(m.Archives[0].Parts); parts < 2 {
		t.Fatalf("base archive in %d objects, want several of 40 MiB", parts)
	}
	after := objectstore.StreamBuffers()
	if store.maxLimit != 3 || store.maxInFlight != 1 {
		t.Fatalf("while the backup stored its objects: up to %d at once under a cap of up to %d buffers, want one at a time under 3", store.maxInFlight, store.maxLimit)
	}
	// Exactly the cap: every object of three parts fills all three
	// buffers, so the peak does not wait for a slow part to reach it.
	if after.Peak != 3 || after.InUse != 0 {
		t.Fatalf("part buffers: %d taken at most, %d still taken; want 3 and none left", after.Peak, after.InUse)
	}
	if made := after.Allocated - before.Allocated; made > 3 {
		t.Fatalf("the backup allocated %d part buffers, want at most 3", made)
	}
}

// uploadsSeen records how many puts were in flight at once and the cap on
// part buffers while they were.
type uploadsSeen struct {
	objectstore.Store
	mu                    sync.Mutex
	inFlight, maxInFlight int
	maxLimit              int
}

func (u *uploadsSeen) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	u.mu.Lock()
	u.inFlight++
	u.maxInFlight = max(u.maxInFlight, u.inFlight)
	u.maxLimit = max(u.maxLimit, objectstore.StreamBuffers().Limit)
	u.mu.Unlock()
	info, err := u.Store.Put(ctx, key, body, opts)
	u.mu.Lock()
	u.inFlight--
	u.mu.Unlock()
	return info, err
}
