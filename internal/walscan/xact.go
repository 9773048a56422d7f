package walscan

import (
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Xact is a transaction that ended in the scanned WAL, with what it did
// to the relations a Tracker watches.
type Xact struct {
	XID uint32
	// Committed is false for an aborted transaction (its changes never
	// became visible).
	Committed bool
	// Time is the commit (or abort) time; LSN where its commit record
	// starts: recovery_target_xid with inclusive = false stops just
	// before it.
	Time time.Time
	LSN  wal.LSN
	// Row changes to the watched relations, counted by heap record (one
	// per row; a multi-insert counts its tuples).
	Deleted, Updated, Inserted int
	// Truncated is set when it truncated a watched relation.
	Truncated bool
	// Subxacts are its subtransactions (savepoints) that wrote.
	Subxacts []uint32

	// dropped are the files its commit removed (tablespace unknown).
	dropped []RelFileNode
}

// Rows is the number of rows it changed.
func (x Xact) Rows() int { return x.Deleted + x.Updated + x.Inserted }

// EndRecord reports whether r ends a transaction: its commit or abort
// record (prepared transactions' too), with the transaction's id, time and
// subtransactions.
func EndRecord(r Record) (x Xact, ok bool) {
	if r.Rmgr != "Transaction" {
		return Xact{}, false
	}
	op := r.Op()
	switch op {
	case "COMMIT", "COMMIT_PREPARED":
		x.Committed = true
	case "ABORT", "ABORT_PREPARED":
	default:
		return Xact{}, false
	}
	x.XID, x.LSN = r.XID, r.LSN
	rest := strings.TrimSpace(strings.TrimPrefix(r.Desc, op))
	// PREPARED forms name the xid first: "COMMIT_PREPARED 745: 2026-..."
	if strings.HasSuffix(op, "_PREPARED") {
		if id, after, ok := strings.Cut(rest, ":"); ok {
			if v, err := strconv.ParseUint(strings.TrimSpace(id), 10, 32); err == nil {
				x.XID = uint32(v)
			}
			rest = strings.TrimSpace(after)
		}
	}
	ts, tail, _ := strings.Cut(rest, ";")
	if t, err := time.Parse("2006-01-02 15:04:05.999999 MST", strings.TrimSpace(ts)); err == nil {
		x.Time = t.UTC()
	}
	for _, part := range strings.Split(tail, ";") {
		part = strings.TrimSpace(part)
		if ids, ok := strings.CutPrefix(part, "subxacts:"); ok {
			for _, f := range strings.Fields(ids) {
				if v, err := strconv.ParseUint(f, 10, 32); err == nil {
					x.Subxacts = append(x.Subxacts, uint32(v))
				}
			}
		}
		// "rels: base/5/16384 ...": files dropped at commit, which is
		// how TRUNCATE and DROP TABLE show (the relation gets new files).
		if files, ok := strings.CutPrefix(part, "rels:"); ok {
			for _, f := range strings.Fields(files) {
				el := strings.Split(f, "/")
				if len(el) < 2 {
					continue
				}
				db, err1 := strconv.ParseUint(el[len(el)-2], 10, 32)
				node, err2 := strconv.ParseUint(el[len(el)-1], 10, 32)
				if err1 == nil && err2 == nil {
					x.dropped = append(x.dropped, RelFileNode{Database: uint32(db), Node: uint32(node)})
				}
			}
		}
	}
	return x, true
}

// RestorePoint reports whether r is a named restore point
// (pg_create_restore_point), and its name.
func RestorePoint(r Record) (string, bool) {
	if r.Rmgr != "XLOG" {
		return "", false
	}
	name, ok := strings.CutPrefix(r.Desc, "RESTORE_POINT ")
	return name, ok
}

// Tracker collects, from records fed in WAL order, the transactions that
// changed rows of the watched relations.
type Tracker struct {
	// Rels are the watched relations' files; RelOIDs their pg_class oids
	// (a TRUNCATE record names relations by oid).
	Rels    []RelFileNode
	RelOIDs []uint32

	open map[uint32]*Xact // by (sub)transaction id, not yet ended
	// Done are the ended transactions that touched a watched relation, in
	// commit order.
	Done []Xact
}

func (t *Tracker) watched(r Record) bool {
	for _, rel := range r.Rels {
		for _, w := range t.Rels {
			if rel == w {
				return true
			}
		}
	}
	return false
}

// Add feeds one record.
func (t *Tracker) Add(r Record) {
	if t.open == nil {
		t.open = map[uint32]*Xact{}
	}
	if x, ok := EndRecord(r); ok {
		acc := Xact{XID: x.XID}
		touched := false
		for _, id := range append([]uint32{x.XID}, x.Subxacts...) {
			if o := t.open[id]; o != nil {
				touched = true
				acc.Deleted += o.Deleted
				acc.Updated += o.Updated
				acc.Inserted += o.Inserted
				acc.Truncated = acc.Truncated || o.Truncated
				delete(t.open, id)
			}
		}
		for _, d := range x.dropped {
			for _, w := range t.Rels {
				if d.Database == w.Database && d.Node == w.Node {
					touched, acc.Truncated = true, true
				}
			}
		}
		if touched {
			x.Deleted, x.Updated, x.Inserted, x.Truncated = acc.Deleted, acc.Updated, acc.Inserted, acc.Truncated
			t.Done = append(t.Done, x)
		}
		return
	}
	if r.XID == 0 {
		return
	}
	kind := ""
	switch r.Rmgr {
	case "Heap":
		switch r.Op() {
		case "DELETE":
			kind = "d"
		case "UPDATE", "HOT_UPDATE":
			kind = "u"
		case "INSERT", "INSERT+INIT":
			kind = "i"
		case "TRUNCATE":
			if t.truncates(r.Desc) {
				kind = "t"
			}
		}
	case "Heap2":
		if strings.HasPrefix(r.Op(), "MULTI_INSERT") {
			kind = "m"
		}
	}
	if kind == "" || (kind != "t" && !t.watched(r)) {
		return
	}
	o := t.open[r.XID]
	if o == nil {
		o = &Xact{XID: r.XID}
		t.open[r.XID] = o
	}
	switch kind {
	case "d":
		o.Deleted++
	case "u":
		o.Updated++
	case "i":
		o.Inserted++
	case "m":
		o.Inserted += multiInsertTuples(r.Desc)
	case "t":
		o.Truncated = true
	}
}

// truncates reports whether a TRUNCATE record's relids name a watched oid.
func (t *Tracker) truncates(desc string) bool {
	_, ids, ok := strings.Cut(desc, "relids")
	if !ok {
		return false
	}
	for _, f := range strings.Fields(ids) {
		v, err := strconv.ParseUint(strings.Trim(f, ":,"), 10, 32)
		if err != nil {
			continue
		}
		for _, oid := range t.RelOIDs {
			if uint32(v) == oid {
				return true
			}
		}
	}
	return false
}

// multiInsertTuples reads "MULTI_INSERT ... ntuples: 17" (PostgreSQL 15:
// "MULTI_INSERT ntuples: 17 flags 0x02"); 1 when it cannot tell.
func multiInsertTuples(desc string) int {
	_, after, ok := strings.Cut(desc, "ntuples:")
	if !ok {
		if _, after, ok = strings.Cut(desc, "ntuples "); !ok {
			return 1
		}
	}
	f := strings.Fields(after)
	if len(f) == 0 {
		return 1
	}
	n, err := strconv.Atoi(strings.Trim(f[0], ","))
	if err != nil {
		return 1
	}
	return n
}
