package wal

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SystemIdentifier reads the cluster's system identifier from
// <pgdata>/global/pg_control.
//
// NOTE: the identifier is the first field of ControlFileData, a uint64 in
// the machine's byte order (little-endian on every platform Lifeboat
// ships for); reading it directly avoids running pg_controldata, which may
// not be on PATH where archive_command runs. A test checks it against
// pg_controldata.
func SystemIdentifier(pgdata string) (uint64, error) {
	path := filepath.Join(pgdata, "global", "pg_control")
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading the system identifier (is %q the data directory? set --pgdata or PGDATA): %w", pgdata, err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	id := binary.LittleEndian.Uint64(b[:])
	if id == 0 {
		return 0, fmt.Errorf("%s: system identifier is 0: not a pg_control file", path)
	}
	return id, nil
}
