package walscan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Relation is a table as WAL names it, resolved from the live catalog.
type Relation struct {
	// Name is the table as given (schema-qualified or not); OID its
	// pg_class oid; File its files (pg_relation_filenode and the
	// tablespace, database oids).
	Name string
	OID  uint32
	File RelFileNode
}

// ErrNoRelation means the table is not in the database's catalog.
var ErrNoRelation = errors.New("no such table")

// ResolveRelation looks table up in the catalog of the database dsn
// connects to: pg_class via regclass, pg_relation_filenode (a mapped
// catalog's too), the table's tablespace or the database's default.
//
// GOTCHA: a relation's files change with TRUNCATE, VACUUM FULL and
// CLUSTER; WAL from before such a change names the old relfilenode, which
// the live catalog no longer shows. Find reports the rewriting
// transaction (its commit drops the old files) once the new files are
// watched; changes before it need the old node (Relation.File).
func ResolveRelation(ctx context.Context, dsn, table string) (Relation, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Relation{}, err
	}
	defer conn.Close(context.Background())
	var r Relation
	r.Name = table
	err = conn.QueryRow(ctx, `SELECT c.oid::int8, pg_relation_filenode(c.oid)::int8,
  coalesce(nullif(c.reltablespace, 0), d.dattablespace)::int8, d.oid::int8
FROM pg_class c, pg_database d
WHERE c.oid = to_regclass($1) AND d.datname = current_database()`, table).Scan(
		ptr32(&r.OID), ptr32(&r.File.Node), ptr32(&r.File.Tablespace), ptr32(&r.File.Database))
	if errors.Is(err, pgx.ErrNoRows) {
		return Relation{}, fmt.Errorf("%q in database %s: %w", table, conn.Config().Database, ErrNoRelation)
	}
	if err != nil {
		return Relation{}, fmt.Errorf("resolving %q: %w", table, err)
	}
	return r, nil
}

type u32 struct{ p *uint32 }

func (u u32) Scan(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("want int8, got %T", v)
	}
	*u.p = uint32(n)
	return nil
}

func ptr32(p *uint32) u32 { return u32{p} }

// FindOptions say which WAL and which table Find reads.
type FindOptions struct {
	Layout   repo.Layout
	Relation Relation
	// From and To bound the commit times listed (zero: unbounded). The
	// segments read are those archived from From on, up to the first one
	// archived at or after To.
	From, To time.Time
	// Timeline is the history read ("" or 0: the archive's newest, which
	// follows a failover across the switch).
	Timeline uint32
	BinDir   string
	// IncludeAborted also lists rolled-back transactions.
	IncludeAborted bool
	// Identities decrypt encrypted segments.
	Identities *crypt.Keyring
}

// Finding is what Find read and found.
type Finding struct {
	Relation Relation
	// FirstSegment..LastSegment were read, along Timeline.
	FirstSegment, LastSegment string
	Timeline                  uint32
	Segments                  int
	// Xacts changed rows of the table (or rewrote it), in commit order.
	Xacts []Xact
}

// Find reads the archived WAL of the window and lists the transactions
// that deleted, updated, inserted or truncated rows of the relation, with
// commit time, xid, commit LSN and row counts: the input for a restore to
// just before one of them (recovery_target_xid, inclusive off).
func Find(ctx context.Context, store objectstore.Store, opts FindOptions) (*Finding, error) {
	a, err := catalog.ListWAL(ctx, store, opts.Layout, 0)
	if err != nil {
		return nil, fmt.Errorf("listing archived WAL: %w", err)
	}
	tli := opts.Timeline
	if tli == 0 {
		tli = a.LatestTimeline()
	}
	v, err := a.On(tli)
	if err != nil {
		return nil, err
	}
	out := &Finding{Relation: opts.Relation, Timeline: v.Timeline()}
	var from, to uint64
	have := false
	for _, f := range v.Files {
		if !opts.From.IsZero() && f.LastModified.Before(opts.From) {
			continue
		}
		if !have {
			from, have = f.Segment.No, true
			out.FirstSegment = f.Name
		}
		to = f.Segment.No
		out.LastSegment = f.Name
		out.Segments++
		if !opts.To.IsZero() && !f.LastModified.Before(opts.To) {
			break
		}
	}
	if !have {
		return out, nil
	}
	tr := &Tracker{Rels: []RelFileNode{opts.Relation.File}, RelOIDs: []uint32{opts.Relation.OID}}
	err = Scan(ctx, store, v, Options{Layout: opts.Layout, BinDir: opts.BinDir, From: from, To: to, Identities: opts.Identities}, func(r Record) error {
		tr.Add(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, x := range tr.Done {
		if !x.Committed && !opts.IncludeAborted {
			continue
		}
		if (!opts.From.IsZero() && x.Time.Before(opts.From)) || (!opts.To.IsZero() && x.Time.After(opts.To)) {
			continue
		}
		out.Xacts = append(out.Xacts, x)
	}
	sort.SliceStable(out.Xacts, func(i, j int) bool { return out.Xacts[i].LSN < out.Xacts[j].LSN })
	return out, nil
}
