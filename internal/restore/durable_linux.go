package restore

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback queues the writeback of the n bytes of f from off and
// returns without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE,
// what PostgreSQL's own pg_flush_data does). It is a hint: fdatasync later
// makes the data durable, so a failure here is ignored and reported there.
func startWriteback(f *os.File, off, n int64) {
	if n <= 0 {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// fdatasync makes f's data, and the metadata needed to read it back (its
// size), durable.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
