package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL WAL location (XLogRecPtr).
type LSN uint64

// ParseLSN reads the "X/X" form PostgreSQL prints (pg_current_wal_lsn,
// BASE_BACKUP results).
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("%q is not a WAL location (want X/X)", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a WAL location: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a WAL location: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String prints the location as PostgreSQL does.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// DefaultSegmentSize is initdb's default wal_segment_size.
const DefaultSegmentSize = 16 << 20

// Segment identifies one WAL segment file: its timeline and its number in
// the WAL sequence (the segment number does not depend on the timeline).
type Segment struct {
	Timeline uint32
	No       uint64
}

// SegmentOf is the segment holding lsn (XLByteToSeg).
func SegmentOf(tli uint32, lsn LSN, segSize uint64) Segment {
	return Segment{Timeline: tli, No: uint64(lsn) / segSize}
}

// SegmentBefore is the segment holding the byte just before lsn
// (XLByteToPrevSeg): the last segment a backup that stopped at lsn needs,
// also when lsn sits exactly on a segment boundary.
func SegmentBefore(tli uint32, lsn LSN, segSize uint64) Segment {
	if lsn == 0 {
		return Segment{Timeline: tli}
	}
	return Segment{Timeline: tli, No: (uint64(lsn) - 1) / segSize}
}

// Name is the segment's file name (XLogFileName).
func (s Segment) Name(segSize uint64) string {
	per := segmentsPerXLogID(segSize)
	return fmt.Sprintf("%08X%08X%08X", s.Timeline, s.No/per, s.No%per)
}

// ParseSegment reads a complete segment file name (24 hex digits).
func ParseSegment(name string, segSize uint64) (Segment, error) {
	if !IsSegment(name) {
		return Segment{}, fmt.Errorf("%q is not a WAL segment file name", name)
	}
	tli, _ := strconv.ParseUint(name[:8], 16, 32)
	log, _ := strconv.ParseUint(name[8:16], 16, 32)
	seg, _ := strconv.ParseUint(name[16:], 16, 32)
	per := segmentsPerXLogID(segSize)
	if seg >= per {
		return Segment{}, fmt.Errorf("%q is not a segment name for %d-byte segments", name, segSize)
	}
	return Segment{Timeline: uint32(tli), No: log*per + seg}, nil
}

func segmentsPerXLogID(segSize uint64) uint64 {
	if segSize == 0 {
		segSize = DefaultSegmentSize
	}
	return 0x100000000 / segSize
}
