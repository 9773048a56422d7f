package restore

import (
	"fmt"
	"os"
	"sync"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// A restore that reports its files laid out (or a copy restored) has them
// on disk, not only in the page cache: a crash right after "done" must not
// leave a directory that looks restored and holds torn or empty files. The
// files are made durable while the restore goes on, the way pgBackRest
// syncs each file as it restores: the decoding goroutine starts writeback
// of every range it has written (startWriteback, sync_file_range on Linux,
// which queues the I/O and returns), and workers fdatasync each finished
// file, so the disk writes overlap decoding. Left to the kernel, the same
// gigabytes stayed dirty until PostgreSQL started and synced the whole data
// directory (with fsync = on) before recovery, one more pass the restore
// waited for.

const (
	// writebackChunk is how much of a file is written before its
	// writeback is started: large enough that the system call costs
	// nothing, small enough that the disk starts early and little is
	// left to write when the file is synced.
	writebackChunk = 8 << 20
	// syncWorkers fdatasync finished files beside the decoder. Several
	// syncs in flight share the file system journal's commits (each
	// new file's size is metadata) rather than waiting for one each.
	syncWorkers = 4
	// syncQueue bounds the files written but not yet synced (each holds
	// a descriptor): when the disk is slower than decoding, the decoder
	// waits here instead of filling memory with dirty pages.
	syncQueue = 32
)

// fileSyncer syncs and closes the files a restore hands it, on workers of
// its own, then the directories (finish).
type fileSyncer struct {
	queue chan *os.File
	wg    sync.WaitGroup
	once  sync.Once

	mu   sync.Mutex
	err  error
	dirs []string
}

func newFileSyncer() *fileSyncer {
	s := &fileSyncer{queue: make(chan *os.File, syncQueue)}
	for range syncWorkers {
		s.wg.Add(1)
		go s.run()
	}
	return s
}

func (s *fileSyncer) run() {
	defer s.wg.Done()
	for f := range s.queue {
		err := fdatasync(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.fail(fmt.Errorf("syncing %s to disk: %w", f.Name(), err))
		}
	}
}

func (s *fileSyncer) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *fileSyncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// file hands over f, completely written: it is synced and closed on a
// worker. An earlier file's failure is returned (f is then closed here),
// so the restore stops at the first disk error.
func (s *fileSyncer) file(f *os.File) error {
	if err := s.failed(); err != nil {
		f.Close()
		return err
	}
	s.queue <- f
	return nil
}

// dir records a directory the restore created: its entries are synced by
// finish, once every file in it is.
func (s *fileSyncer) dir(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs = append(s.dirs, path)
}

// finish waits until every file handed over is synced and closed, then
// syncs the recorded directories. It returns the first failure; calling it
// again returns the same.
func (s *fileSyncer) finish() error {
	s.once.Do(func() {
		close(s.queue)
		s.wg.Wait()
		if s.failed() != nil {
			return
		}
		for _, d := range s.dirs {
			if err := repo.SyncDir(d); err != nil {
				s.fail(err)
				return
			}
		}
	})
	return s.failed()
}
