package walscan

import (
	"strings"
	"testing"
	"time"
)

// Lines as PostgreSQL 15's pg_waldump prints them (TZ=UTC): a savepoint's
// delete and an update of table 1663/5/16384 committed by 725, a restore
// point, a TRUNCATE (new files for the table) committed by 727.
const sample = `rmgr: Heap        len (rec/tot):     61/    61, tx:        724, lsn: 0/015247B8, prev 0/015246F8, desc: INSERT+INIT off 1 flags 0x00, blkref #0: rel 1663/5/16384 blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:        724, lsn: 0/01524A98, prev 0/01524A58, desc: COMMIT 2026-11-30 10:14:45.289613 UTC; inval msgs: catcache 80
rmgr: Heap        len (rec/tot):     54/    54, tx:        726, lsn: 0/01524FD0, prev 0/01524A98, desc: DELETE off 1 flags 0x00 KEYS_UPDATED , blkref #0: rel 1663/5/16384 blk 0
rmgr: Heap        len (rec/tot):     69/    69, tx:        725, lsn: 0/01525008, prev 0/01524FD0, desc: HOT_UPDATE off 2 xmax 725 flags 0x20 ; new off 6 xmax 0, blkref #0: rel 1663/5/16384 blk 0
rmgr: Heap        len (rec/tot):     54/    54, tx:        728, lsn: 0/01525010, prev 0/01524FD0, desc: DELETE off 1 flags 0x00 KEYS_UPDATED , blkref #0: rel 1663/5/99999 blk 0
rmgr: Transaction len (rec/tot):     46/    46, tx:        725, lsn: 0/01525050, prev 0/01525008, desc: COMMIT 2026-11-30 10:14:45.306997 UTC; subxacts: 726
rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/01525080, prev 0/01525050, desc: RESTORE_POINT rp-one
rmgr: Transaction len (rec/tot):     46/    46, tx:        728, lsn: 0/01525090, prev 0/01525080, desc: ABORT 2026-11-30 10:14:45.310000 UTC
rmgr: Heap        len (rec/tot):    123/   123, tx:        727, lsn: 0/01525148, prev 0/01525118, desc: UPDATE off 5 xmax 727 flags 0x60 ; new off 7 xmax 0, blkref #0: rel 1663/5/1259 blk 0
rmgr: Transaction len (rec/tot):    361/   361, tx:        727, lsn: 0/01525878, prev 0/015257E8, desc: COMMIT 2026-11-30 10:14:45.340009 UTC; rels: base/5/16388 base/5/16384; inval msgs: catcache 55`

func TestTrackerAndRestorePoints(t *testing.T) {
	tr := Tracker{Rels: []RelFileNode{{1663, 5, 16384}}}
	var points []string
	n := 0
	for _, line := range strings.Split(sample, "\n") {
		r, ok := ParseLine(line)
		if !ok {
			t.Fatalf("not parsed: %s", line)
		}
		n++
		if name, ok := RestorePoint(r); ok {
			points = append(points, name+"@"+r.LSN.String())
		}
		tr.Add(r)
	}
	if len(points) != 1 || points[0] != "rp-one@0/1525080" {
		t.Fatalf("restore points %v", points)
	}
	if len(tr.Done) != 3 {
		t.Fatalf("transactions %+v, want 724, 725, 727", tr.Done)
	}
	ins, del, trunc := tr.Done[0], tr.Done[1], tr.Done[2]
	if ins.XID != 724 || ins.Inserted != 1 || !ins.Committed {
		t.Fatalf("724: %+v", ins)
	}
	want := time.Date(2026, 11, 30, 10, 14, 45, 306997000, time.UTC)
	if del.XID != 725 || del.Deleted != 1 || del.Updated != 1 || !del.Time.Equal(want) || del.LSN.String() != "0/1525050" {
		t.Fatalf("725 (delete in its savepoint 726, and an update): %+v", del)
	}
	if trunc.XID != 727 || !trunc.Truncated || trunc.Rows() != 0 {
		t.Fatalf("727 (truncate): %+v", trunc)
	}
}

func TestEndRecordPrepared(t *testing.T) {
	r, _ := ParseLine("rmgr: Transaction len (rec/tot):     46/    46, tx:          0, lsn: 0/01525090, prev 0/01525080, desc: COMMIT_PREPARED 745: 2026-11-30 10:14:45.310000 UTC")
	x, ok := EndRecord(r)
	if !ok || x.XID != 745 || !x.Committed || x.Time.IsZero() {
		t.Fatalf("%+v %v", x, ok)
	}
}
