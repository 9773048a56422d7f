package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const spoolSeg = "000000010000000000000003"

// spoolOne prepares a spool in a temporary directory and places a file
// with body in it as spoolSeg; it returns the spool and pg_wal directories.
func spoolOne(t *testing.T, body []byte) (spool, pgWAL string) {
	t.Helper()
	root := t.TempDir()
	spool, pgWAL = filepath.Join(root, "spool"), filepath.Join(root, "pg_wal")
	if err := os.Mkdir(pgWAL, 0o700); err != nil {
		t.Fatal(err)
	}
	var owned []string
	own := func(p string) error { owned = append(owned, p); return nil }
	incoming, err := PrepareSpool(spool, own)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(incoming, spoolSeg)
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SpoolFile(spool, spoolSeg, tmp, own); err != nil {
		t.Fatal(err)
	}
	// The directories and the record go to PostgreSQL's account, which
	// runs wal-fetch.
	if len(owned) != 5 {
		t.Fatalf("handed %d paths to the owner (%v), want the 4 directories and the record", len(owned), owned)
	}
	return spool, pgWAL
}

// TestTakeSpooledServesARepeatedRequest: PostgreSQL asks for the last
// segment it replayed again when recovery ends; the spool hands the same
// bytes both times, counts the file taken once, and the second request
// does not go to the repository.
func TestTakeSpooledServesARepeatedRequest(t *testing.T) {
	body := bytes.Repeat([]byte("wal!"), 1<<18)
	spool, pgWAL := spoolOne(t, body)
	dest := filepath.Join(pgWAL, "RECOVERYXLOG")
	for i := range 2 {
		ok, err := TakeSpooled(spool, spoolSeg, dest)
		if err != nil || !ok {
			t.Fatalf("request %d: ok %v, %v", i+1, ok, err)
		}
		got, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("request %d: handed over %d bytes that differ from the %d spooled", i+1, len(got), len(body))
		}
		// PostgreSQL renames the restored file to its segment name.
		if err := os.Rename(dest, filepath.Join(pgWAL, spoolSeg)); err != nil {
			t.Fatal(err)
		}
		if n := SpoolTaken(spool); n != 1 {
			t.Fatalf("after request %d the spool counts %d taken, want 1", i+1, n)
		}
	}
	if _, err := os.Stat(filepath.Join(spool, spoolSeg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a taken file is still offered as not taken: %v", err)
	}
	if ok, err := TakeSpooled(spool, "000000010000000000000004", dest); ok || err != nil {
		t.Fatalf("a file never spooled: ok %v, %v; want not found", ok, err)
	}
	if ok, err := TakeSpooled(spool, "../"+spoolSeg, dest); ok || err == nil {
		t.Fatalf("a name with a path: ok %v, %v; want refused", ok, err)
	}
}

// TestTakeSpooledRefusesADamagedFile: a spooled file changed on disk after
// it was verified (same size, one byte flipped; or cut short) is refused,
// never handed to PostgreSQL, and dropped from the spool so the caller
// fetches it from the repository; a later request does not find it either.
func TestTakeSpooledRefusesADamagedFile(t *testing.T) {
	for name, damage := range map[string]func(path string) error{
		"flipped": func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{'X'}, 12345)
			return err
		},
		"truncated": func(p string) error { return os.Truncate(p, 4096) },
	} {
		t.Run(name, func(t *testing.T) {
			body := bytes.Repeat([]byte("wal!"), 1<<18)
			spool, pgWAL := spoolOne(t, body)
			if err := damage(filepath.Join(spool, spoolSeg)); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(pgWAL, "RECOVERYXLOG")
			ok, err := TakeSpooled(spool, spoolSeg, dest)
			if ok || !errors.Is(err, ErrSpoolDamaged) {
				t.Fatalf("damaged spooled file: ok %v, %v; want ErrSpoolDamaged", ok, err)
			}
			if entries, _ := os.ReadDir(pgWAL); len(entries) != 0 {
				t.Fatalf("pg_wal holds %v after a refused file, want nothing", entries)
			}
			if ok, err := TakeSpooled(spool, spoolSeg, dest); ok || err != nil {
				t.Fatalf("second request for the refused file: ok %v, %v; want not in the spool", ok, err)
			}
			if n := SpoolTaken(spool); n != 0 {
				t.Fatalf("spool counts %d taken, want 0", n)
			}
		})
	}
}
