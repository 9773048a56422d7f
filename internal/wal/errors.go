package wal

import (
	"errors"
	"fmt"
)

// ErrSegmentNotFound means the archive holds no object for the requested
// file. wal-fetch turns it into exit code 1, which PostgreSQL reads as the
// end of the archive.
var ErrSegmentNotFound = errors.New("WAL file not found in the archive")

// ErrConflict means the archive already holds a different file under the
// same name.
var ErrConflict = errors.New("archive already holds different content for this WAL file")

// ErrChecksum means restored bytes do not match the checksum recorded when
// they were archived.
var ErrChecksum = errors.New("archived WAL file failed checksum verification")

// ConflictError describes a refused push: the archived object is left as is.
type ConflictError struct {
	// Key is the archived object.
	Key string
	// Archived and Pushed are hex SHA-256 of the original bytes; Archived is
	// empty when the archived object carries no checksum.
	Archived, Pushed string
}

func (e *ConflictError) Error() string {
	archived := e.Archived
	if archived == "" {
		archived = "unknown (no lifeboat-sha256 metadata)"
	}
	return fmt.Sprintf("%v: %s has sha256 %s, the file pushed has %s; nothing was written. "+
		"Two clusters may be archiving into the same repository, or the WAL on disk changed after it was archived",
		ErrConflict, e.Key, archived, e.Pushed)
}

// Unwrap lets errors.Is(err, ErrConflict) match.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// ChecksumError describes a failed verification.
type ChecksumError struct {
	Key            string
	Want, Got      string
	WantSize, Size int64
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%v: %s: want sha256 %s (%d bytes), got %s (%d bytes)", ErrChecksum, e.Key, e.Want, e.WantSize, e.Got, e.Size)
}

// Unwrap lets errors.Is(err, ErrChecksum) match.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }
