package wal

import (
	"fmt"
	"regexp"
)

// walName matches every file PostgreSQL hands to archive_command or asks of
// restore_command: segments, partial segments, timeline history files and
// backup history files. All start with the 8-hex-digit timeline.
var walName = regexp.MustCompile(`^([0-9A-F]{8})(?:[0-9A-F]{16}(?:\.partial|\.[0-9A-F]{8}\.backup)?|\.history)$`)

// segmentName matches a complete WAL segment file name.
var segmentName = regexp.MustCompile(`^[0-9A-F]{24}$`)

// Timeline returns the timeline part (8 hex digits) of a WAL file name, or
// an error for a name PostgreSQL would never archive.
func Timeline(name string) (string, error) {
	m := walName.FindStringSubmatch(name)
	if m == nil {
		return "", fmt.Errorf("%q is not a WAL file name (segment, .partial, .history or .backup)", name)
	}
	return m[1], nil
}

// IsSegment reports whether name is a complete WAL segment file name.
func IsSegment(name string) bool { return segmentName.MatchString(name) }
