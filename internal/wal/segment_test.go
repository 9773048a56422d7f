package wal

import "testing"

func TestSegmentNames(t *testing.T) {
	const seg = DefaultSegmentSize
	lsn, err := ParseLSN("1/2A000028")
	if err != nil {
		t.Fatal(err)
	}
	if lsn.String() != "1/2A000028" {
		t.Fatalf("LSN round trip: %s", lsn)
	}
	if got := SegmentOf(3, lsn, seg).Name(seg); got != "00000003000000010000002A" {
		t.Fatalf("SegmentOf = %s", got)
	}
	// A stop location exactly on a boundary needs the segment before it.
	boundary, _ := ParseLSN("1/2B000000")
	if got := SegmentBefore(3, boundary, seg).Name(seg); got != "00000003000000010000002A" {
		t.Fatalf("SegmentBefore = %s", got)
	}
	s, err := ParseSegment("00000003000000010000002A", seg)
	if err != nil || s.Timeline != 3 || s.No != 0x100+0x2A {
		t.Fatalf("ParseSegment = %+v, %v", s, err)
	}
	// 1 GiB segments: 4 per xlog id.
	if _, err := ParseSegment("000000010000000000000004", 1<<30); err == nil {
		t.Fatal("segment 4 accepted for 1 GiB segments")
	}
	if _, err := ParseLSN("nonsense"); err == nil {
		t.Fatal("ParseLSN accepted nonsense")
	}
}
