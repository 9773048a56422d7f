package restore

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// SpoolDir is the directory in a restored data directory where a started
// restore prefetches the WAL its plan replays, while it lays out the files.
// restore_command (wal-fetch --spool) takes each segment from there, checked
// against what was recorded when it was spooled (wal.TakeSpooled), instead of a process that loads its configuration, connects to
// the repository, lists, downloads and decodes the segment while
// PostgreSQL waits: 60 ms a segment on the benchmark's machine, most of
// the time replay took. Segments the plan did not list (archived since, or
// past prefetchMax) and the files PostgreSQL asks for that the archive
// lacks go to the repository as before. The directory is removed once the
// server has recovered (or failed to).
const SpoolDir = "lifeboat-wal-spool"

// prefetchMax bounds the segments prefetched (16 MiB each by default): a
// restore replaying more WAL takes the rest from the repository.
const prefetchMax = 64

// prefetcher fetches the plan's WAL segments into the spool, in order, on
// a goroutine of its own.
type prefetcher struct {
	dir    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startPrefetch starts fetching the WAL files named by keys (the plan's,
// in replay order) into dataDir's spool, owned by own. Failures are left
// for restore_command to meet again from the repository, where they are
// reported.
func startPrefetch(ctx context.Context, store objectstore.Store, cfg wal.Config, keys []string, dataDir string, own owner) (*prefetcher, error) {
	dir := filepath.Join(dataDir, SpoolDir)
	incoming, err := wal.PrepareSpool(dir, own.lchown)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{dir: dir, cancel: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for i, key := range keys {
			if i == prefetchMax || ctx.Err() != nil {
				return
			}
			k, ok := repo.ParseWALKey(key)
			if !ok {
				continue
			}
			// Fetched (verified, synced) under .incoming, handed to the
			// server's account, then placed in the spool with its record
			// (wal.SpoolFile): wal-fetch never finds a partial file, nor
			// one PostgreSQL cannot read.
			tmp := filepath.Join(incoming, k.Name)
			if _, err := wal.Fetch(ctx, store, cfg, k.Name, tmp); err != nil {
				os.Remove(tmp)
				continue
			}
			if err := own.lchown(tmp); err != nil {
				os.Remove(tmp)
				continue
			}
			if err := wal.SpoolFile(dir, k.Name, tmp, own.lchown); err != nil {
				os.Remove(tmp)
				continue
			}
		}
	}()
	return p, nil
}

// stop ends the prefetching and removes the spool with whatever
// PostgreSQL did not take; taken counts the segments it took from there.
func (p *prefetcher) stop() (taken int, err error) {
	if p == nil {
		return 0, nil
	}
	p.cancel()
	p.wg.Wait()
	return wal.SpoolTaken(p.dir), os.RemoveAll(p.dir)
}
