package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// SchemaSnapshot is what a tenant database looked like at a restore point,
// as far as a rollback's reviewer cares: its Odoo modules and its tables'
// columns. CreateRestorePoint records one per tenant; a rollback to the
// point compares it with the live database (Compare).
type SchemaSnapshot struct {
	Format       int       `json:"format"`
	Database     string    `json:"database"`
	RestorePoint string    `json:"restore_point"`
	TakenAt      time.Time `json:"taken_at"`
	// Modules are ir_module_module's rows (none when the database has no
	// such table: not an Odoo database).
	Modules []ModuleVersion `json:"modules"`
	// Columns are every user table's columns, by table then position.
	Columns []ColumnDef `json:"columns"`
}

// ModuleVersion is one row of ir_module_module.
type ModuleVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`
}

// ColumnDef is one column of a user table ("schema.table" unless public).
type ColumnDef struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Type   string `json:"type"`
}

// ModuleChange is a module whose version or state differs between the
// restore point and now; a side where the module is absent is empty.
type ModuleChange struct {
	Name           string `json:"name"`
	PointVersion   string `json:"point_version"`
	PointState     string `json:"point_state"`
	LiveVersion    string `json:"live_version"`
	LiveState      string `json:"live_state"`
	RollbackEffect string `json:"rollback_effect"`
}

// Review is what a rollback to a restore point undoes, seen from the live
// database: added means present now and absent at the point (the rollback
// removes it), dropped the reverse (the rollback brings it back).
type Review struct {
	RestorePoint  string         `json:"restore_point"`
	Database      string         `json:"database"`
	PointTakenAt  time.Time      `json:"point_taken_at"`
	ReviewedAt    time.Time      `json:"reviewed_at"`
	Modules       []ModuleChange `json:"modules"`
	TablesAdded   []string       `json:"tables_added"`
	TablesDropped []string       `json:"tables_dropped"`
	// Columns as "table.column type"; ColumnsChanged as
	// "table.column: <type at the point> -> <type now>".
	ColumnsAdded   []string `json:"columns_added"`
	ColumnsDropped []string `json:"columns_dropped"`
	ColumnsChanged []string `json:"columns_changed"`
}

// Empty reports whether the live database matches the point.
func (r *Review) Empty() bool {
	return len(r.Modules)+len(r.TablesAdded)+len(r.TablesDropped)+len(r.ColumnsAdded)+len(r.ColumnsDropped)+len(r.ColumnsChanged) == 0
}

// Summary is one line for a plan's reader.
func (r *Review) Summary() string {
	if r.Empty() {
		return fmt.Sprintf("%s is as it was at restore point %s: the rollback undoes data changes only", r.Database, r.RestorePoint)
	}
	return fmt.Sprintf("rolling %s back to %s undoes: %d module change(s), %d table(s) added, %d dropped, %d column(s) added, %d dropped, %d changed",
		r.Database, r.RestorePoint, len(r.Modules), len(r.TablesAdded), len(r.TablesDropped), len(r.ColumnsAdded), len(r.ColumnsDropped), len(r.ColumnsChanged))
}

// ErrNoPointSchema means no schema was recorded for the database at the
// restore point (the point was made without it in tenant_databases).
var ErrNoPointSchema = errors.New("no schema recorded at the restore point")

// CaptureSchema reads db's modules and columns through conn, inside one
// repeatable-read snapshot so the two agree.
func CaptureSchema(ctx context.Context, conn *pgx.Conn) (*SchemaSnapshot, error) {
	s := &SchemaSnapshot{Format: 1}
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT current_database(), clock_timestamp()").Scan(&s.Database, &s.TakenAt); err != nil {
			return err
		}
		s.TakenAt = s.TakenAt.UTC()
		rows, err := tx.Query(ctx, `SELECT CASE WHEN c.table_schema = 'public' THEN c.table_name ELSE c.table_schema || '.' || c.table_name END,
	c.column_name, format_type(a.atttypid, a.atttypmod)
FROM information_schema.columns c
JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass AND a.attname = c.column_name
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
ORDER BY 1, c.ordinal_position`)
		if err != nil {
			return err
		}
		s.Columns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ColumnDef, error) {
			var c ColumnDef
			return c, r.Scan(&c.Table, &c.Column, &c.Type)
		})
		if err != nil {
			return err
		}
		var odoo bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('ir_module_module') IS NOT NULL").Scan(&odoo); err != nil || !odoo {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT name, coalesce(latest_version, ''), coalesce(state, '') FROM ir_module_module ORDER BY name")
		if err != nil {
			return err
		}
		s.Modules, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ModuleVersion, error) {
			var m ModuleVersion
			return m, r.Scan(&m.Name, &m.Version, &m.State)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the schema and modules of %s: %w", s.Database, err)
	}
	return s, nil
}

// WritePointSchema records s as database's schema at restore point name,
// written once and signed with signer (nil: unsigned). A schema already
// recorded under the name is refused: recovery stops at the first point of
// a name, so a second one would be reviewed against the wrong state.
func WritePointSchema(ctx context.Context, store objectstore.Store, l repo.Layout, s *SchemaSnapshot, signer *signature.Signer) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	key := l.RestorePointSchemaKey(s.RestorePoint, s.Database)
	_, err = store.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(len(b)), IfAbsent: true, Metadata: signer.Sign(key, b, nil)})
	if errors.Is(err, objectstore.ErrExists) {
		return fmt.Errorf("%w: restore point %q already recorded %s at %s: use a new name per release", ErrInvalidTarget, s.RestorePoint, s.Database, key)
	}
	return err
}

// ReadPointSchema reads what restore point name recorded of database;
// nothing recorded wraps ErrNoPointSchema. With trust holding keys, an
// unsigned or altered record is refused.
func ReadPointSchema(ctx context.Context, store objectstore.Store, l repo.Layout, name, database string, trust signature.Trust) (*SchemaSnapshot, error) {
	s, err := repo.ReadTrusted[SchemaSnapshot](ctx, store, l.RestorePointSchemaKey(name, database), "schema of "+database+" at restore point "+name, trust)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s at %s", ErrNoPointSchema, database, name)
	}
	return s, err
}

// Compare says what rolling live back to point undoes.
func Compare(point, live *SchemaSnapshot) *Review {
	r := &Review{RestorePoint: point.RestorePoint, Database: point.Database, PointTakenAt: point.TakenAt, ReviewedAt: live.TakenAt,
		Modules: []ModuleChange{}, TablesAdded: []string{}, TablesDropped: []string{}, ColumnsAdded: []string{}, ColumnsDropped: []string{}, ColumnsChanged: []string{}}
	then, now := map[string]ModuleVersion{}, map[string]ModuleVersion{}
	for _, m := range point.Modules {
		then[m.Name] = m
	}
	for _, m := range live.Modules {
		now[m.Name] = m
	}
	for _, name := range unionKeys(then, now) {
		a, inA := then[name]
		b, inB := now[name]
		if inA && inB && a == b {
			continue
		}
		c := ModuleChange{Name: name, PointVersion: a.Version, PointState: a.State, LiveVersion: b.Version, LiveState: b.State}
		switch {
		case !inA:
			c.RollbackEffect = "removed (not in the database at the point)"
		case !inB:
			c.RollbackEffect = "back as " + a.Version + " (" + a.State + ")"
		case a.Version != b.Version:
			c.RollbackEffect = "downgraded from " + b.Version + " to " + a.Version
		default:
			c.RollbackEffect = "state back from " + b.State + " to " + a.State
		}
		r.Modules = append(r.Modules, c)
	}
	type col struct{ table, column string }
	tablesA, tablesB := map[string]bool{}, map[string]bool{}
	colsA, colsB := map[col]string{}, map[col]string{}
	for _, c := range point.Columns {
		tablesA[c.Table], colsA[col{c.Table, c.Column}] = true, c.Type
	}
	for _, c := range live.Columns {
		tablesB[c.Table], colsB[col{c.Table, c.Column}] = true, c.Type
	}
	for _, t := range unionKeys(tablesA, tablesB) {
		switch {
		case !tablesA[t]:
			r.TablesAdded = append(r.TablesAdded, t)
		case !tablesB[t]:
			r.TablesDropped = append(r.TablesDropped, t)
		}
	}
	keys := make([]col, 0, len(colsA)+len(colsB))
	for k := range colsA {
		keys = append(keys, k)
	}
	for k := range colsB {
		if _, ok := colsA[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].table != keys[j].table {
			return keys[i].table < keys[j].table
		}
		return keys[i].column < keys[j].column
	})
	for _, k := range keys {
		a, inA := colsA[k]
		b, inB := colsB[k]
		name := k.table + "." + k.column
		switch {
		// NOTE: the columns of a whole table added or dropped are in
		// its table's line, not repeated one by one.
		case !inA && tablesA[k.table]:
			r.ColumnsAdded = append(r.ColumnsAdded, name+" "+b)
		case !inB && tablesB[k.table]:
			r.ColumnsDropped = append(r.ColumnsDropped, name+" "+a)
		case inA && inB && a != b:
			r.ColumnsChanged = append(r.ColumnsChanged, name+": "+a+" -> "+b)
		}
	}
	return r
}

func unionKeys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// KeptReview is the compatibility review of the rollback req planned,
// read now (compute) or, when an earlier plan of the same restore kept one
// within KeptPlanTTL, that one: Terraform plans a saved plan again when it
// applies it, and the review shown then must be the one the reviewer
// approved, even if the live schema moved on in between. kept says which.
// Create releases it (ReleaseKeptReview), so the next plan reads afresh.
func KeptReview(ctx context.Context, store objectstore.Store, req Request, compute func() (*Review, error)) (r *Review, kept bool, err error) {
	records := req.recordStore(store)
	key := req.Layout.KeptReviewKey(req.identity() + reviewSuffix(req))
	if prev, _, _, err := repo.ReadDoc[Review](ctx, records, key, "kept compatibility review"); err == nil && time.Since(prev.ReviewedAt) < KeptPlanTTL {
		return prev, true, nil
	}
	r, err = compute()
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, false, err
	}
	if _, err := records.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
		return r, false, fmt.Errorf("keeping the compatibility review at %s: %w", key, err)
	}
	return r, false, nil
}

// ReviewLive is the compatibility review of rolling tenant database back
// to restore point req.Point.Name: what the point recorded of it
// (ReadPointSchema, trusted by trust) compared with the live database at
// dsn (its database part replaced by database), or the review an earlier
// plan of the same restore kept (KeptReview says why; kept says which).
// A point that recorded no schema of the database is ErrNoPointSchema.
func ReviewLive(ctx context.Context, store objectstore.Store, req Request, dsn, database string, trust signature.Trust) (r *Review, kept bool, err error) {
	return KeptReview(ctx, store, req, func() (*Review, error) {
		then, err := ReadPointSchema(ctx, store, req.Layout, req.Point.Name, database, trust)
		if err != nil {
			return nil, err
		}
		conn, err := pgx.Connect(ctx, pg.WithDatabase(dsn, database))
		if err != nil {
			return nil, fmt.Errorf("connecting to the live %s: %w", database, err)
		}
		defer conn.Close(context.Background())
		now, err := CaptureSchema(ctx, conn)
		if err != nil {
			return nil, err
		}
		return Compare(then, now), nil
	})
}

// ReleaseKeptReview forgets the review KeptReview kept for req.
func ReleaseKeptReview(ctx context.Context, store objectstore.Store, req Request) error {
	return req.recordStore(store).Delete(ctx, req.Layout.KeptReviewKey(req.identity()+reviewSuffix(req)))
}

// reviewSuffix tells reviews of restores to different points apart: the
// identity digest does not cover the restore point.
func reviewSuffix(req Request) string {
	return "-" + strings.ToLower(fmt.Sprintf("%x", []byte(req.Point.Name)))
}
