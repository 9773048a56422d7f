package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A spool is a directory a restore prefetches WAL files into, verified
// against the repository's SHA-256 as Fetch verifies them, for
// restore_command (wal-fetch --spool) to hand to PostgreSQL without a trip
// to the repository:
//
//	<spool>/<name>            a prefetched file PostgreSQL has not asked for yet
//	<spool>/.check/<name>     its size and CRC32C, recorded when it was spooled
//	<spool>/.taken/<name>     a file handed over, kept for a repeated request
//	<spool>/.incoming/        files being fetched
//
// TakeSpooled checks the file against its record every time it hands it
// over, so a spooled file damaged on disk after it was verified is refused
// (and the caller fetches it from the repository) rather than replayed.
//
// NOTE: CRC32C, not SHA-256, at hand-over: the record sits in the same
// directory as the file, writable by the same account, so a cryptographic
// hash there would stop no one who can write the file; what it guards
// against is damage, which CRC32C detects at several GB/s (a SHA-256 of
// each segment would add milliseconds of CPU per segment while PostgreSQL
// waits).
const (
	spoolIncoming = ".incoming"
	spoolCheck    = ".check"
	spoolTaken    = ".taken"
)

// ErrSpoolDamaged means a spooled WAL file no longer matches the size and
// CRC32C recorded when it was spooled.
var ErrSpoolDamaged = errors.New("spooled WAL file does not match its record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PrepareSpool creates the spool directory dir and its subdirectories,
// each passed to own (which gives them to the account PostgreSQL runs
// as). It returns the directory to fetch files into before SpoolFile.
func PrepareSpool(dir string, own func(path string) error) (incoming string, err error) {
	for _, d := range []string{dir, filepath.Join(dir, spoolIncoming), filepath.Join(dir, spoolCheck), filepath.Join(dir, spoolTaken)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
		if err := own(d); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, spoolIncoming), nil
}

// SpoolFile places the verified WAL file at tmp (in the spool's incoming
// directory, already owned by PostgreSQL's account) into spool dir as
// name: its size and CRC32C are recorded first (the record given to own),
// then the file is renamed into place, so a file in the spool always has
// its record.
func SpoolFile(dir, name, tmp string, own func(path string) error) error {
	if !spoolName(name) {
		return fmt.Errorf("WAL file name %q", name)
	}
	size, sum, err := fileCRC(tmp)
	if err != nil {
		return err
	}
	rec := filepath.Join(dir, spoolCheck, name)
	if err := os.WriteFile(rec, []byte(fmt.Sprintf("%d %08x\n", size, sum)), 0o600); err != nil {
		return err
	}
	if err := own(rec); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// TakeSpooled hands WAL file name from spool to destPath (restore_command's
// %p), after checking it against the size and CRC32C recorded when it was
// spooled. ok is false when the spool does not hold it; a damaged file is
// removed from the spool and reported (ErrSpoolDamaged), and the caller
// fetches it from the repository instead.
//
// The file is hard-linked into place and then moved to the spool's taken
// directory, where a repeated request finds it: PostgreSQL asks again for
// the last segment it replayed when recovery ends, and that request went to
// the repository (a full download, 60 ms on the benchmark machine) while the
// same verified bytes sat on the same disk. PostgreSQL never writes into a
// restored file it may ask for again: it renames it to the segment's name
// in pg_wal and only reuses segments older than its last restartpoint.
// Where a link is refused (another file system), the file is moved, as
// before, and a repeated request goes to the repository.
//
// NOTE: no directory sync here: PostgreSQL renames the restored file to its
// segment name with durable_rename (KeepFileRestoredFromArchive), which
// syncs the file and pg_wal itself, and the spooled file was synced when it
// was fetched.
func TakeSpooled(spool, name, destPath string) (ok bool, err error) {
	if !spoolName(name) {
		return false, fmt.Errorf("WAL file name %q", name)
	}
	src, repeat := filepath.Join(spool, name), false
	if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
		src, repeat = filepath.Join(spool, spoolTaken, name), true
	}
	rec, err := os.ReadFile(filepath.Join(spool, spoolCheck, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	wantSize, wantSum, err := parseRecord(string(rec))
	if err != nil {
		return false, fmt.Errorf("record of spooled %s: %w", name, err)
	}
	tmp := filepath.Join(filepath.Dir(destPath), "."+filepath.Base(destPath)+".lifeboat-spool")
	_ = os.Remove(tmp) // left by a killed wal-fetch: the link below needs the name
	linked := true
	if err := os.Link(src, tmp); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		linked, tmp = false, src
	}
	// The inode PostgreSQL will read is the one checked.
	size, sum, err := fileCRC(tmp)
	if err == nil && (size != wantSize || sum != wantSum) {
		err = fmt.Errorf("%w: %s has %d bytes with CRC32C %08x, it was spooled with %d bytes and %08x", ErrSpoolDamaged, name, size, sum, wantSize, wantSum)
	}
	if err != nil {
		if linked {
			os.Remove(tmp)
		}
		if errors.Is(err, ErrSpoolDamaged) {
			os.Remove(src)
			os.Remove(filepath.Join(spool, spoolCheck, name))
		}
		return false, err
	}
	if err := os.Rename(tmp, destPath); err != nil {
		if linked {
			os.Remove(tmp)
		}
		return false, err
	}
	if linked && !repeat {
		// Best effort: a file left in the spool is still handed over
		// again, and only counted as not taken (SpoolTaken).
		_ = os.Rename(src, filepath.Join(spool, spoolTaken, name))
	}
	return true, nil
}

// SpoolTaken counts the files TakeSpooled handed over at least once (and
// kept for a repeated request).
func SpoolTaken(spool string) int {
	entries, err := os.ReadDir(filepath.Join(spool, spoolTaken))
	if err != nil {
		return 0
	}
	return len(entries)
}

func spoolName(name string) bool {
	return name == filepath.Base(name) && name != "." && name != ".." && !strings.HasPrefix(name, ".")
}

func parseRecord(rec string) (int64, uint32, error) {
	f := strings.Fields(rec)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("malformed record %q", rec)
	}
	size, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed record %q", rec)
	}
	sum, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed record %q", rec)
	}
	return size, uint32(sum), nil
}

// fileCRC is the size and CRC32C of the file at path.
func fileCRC(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	// One read per MiB: io.Copy would read 32 KiB at a time.
	buf := make([]byte, 1<<20)
	var n int64
	var sum uint32
	for {
		m, err := f.Read(buf)
		sum = crc32.Update(sum, castagnoli, buf[:m])
		n += int64(m)
		if err == io.EOF {
			return n, sum, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}
