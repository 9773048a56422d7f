package restore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestAccRestorePoints: each recovery target other than a time reaches
// exactly its point on a real server: a named restore point, just before a
// transaction (xid, exclusive), an LSN, and immediate (the backup's end);
// targets the archive does not hold fail at plan, naming the setting.
func TestAccRestorePoints(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	psql(t, pg, "postgres", "DROP TABLE IF EXISTS points; CREATE TABLE points (id int PRIMARY KEY, tag text)")
	m := f.takeBackup(t)
	psql(t, pg, "postgres", "INSERT INTO points SELECT g, 'a' FROM generate_series(1, 10) g")
	lsnAfterA := psql(t, pg, "postgres", "SELECT pg_current_wal_insert_lsn()::text")
	psql(t, pg, "postgres", "SELECT pg_create_restore_point('acc-before-b')")
	psql(t, pg, "postgres", "INSERT INTO points SELECT g, 'b' FROM generate_series(11, 20) g")
	// The accident, in one transaction whose id we keep.
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	if _, err := tx.Exec(ctx, "DELETE FROM points WHERE tag = 'b'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	psql(t, pg, "postgres", "INSERT INTO points VALUES (100, 'after')")
	f.switchAndWait(t)

	count := func(t *testing.T, res *restore.Result) string {
		return queryRestored(t, res, "postgres", "SELECT string_agg(tag || '=' || n, ',' ORDER BY tag) FROM (SELECT tag, count(*) n FROM points GROUP BY tag) s")
	}
	cases := []struct {
		name  string
		point restore.Point
		want  string
	}{
		{"restore_point", restore.Point{Name: "acc-before-b"}, "a=10"},
		{"xid_exclusive", restore.Point{XID: fmt.Sprint(xid), Exclusive: true}, "a=10,b=10"},
		{"xid_inclusive", restore.Point{XID: fmt.Sprint(xid)}, "a=10"},
		{"lsn", restore.Point{LSN: lsnAfterA}, "a=10"},
		{"immediate", restore.Point{Immediate: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := f.clusterOptions(t, "point-"+c.name)
			opts.Point = c.point
			opts.KeepRunning = true
			plan, err := restore.PlanCluster(ctx, f.store, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("plan: %s at %s (%s), WAL %s..%s", plan.Point, plan.TargetLSN, plan.TargetFound, plan.WALStart, plan.WALStop)
			if plan.BackupID != m.ID || plan.TargetLSN == "" || plan.IsLatest() {
				t.Fatalf("plan %+v", plan)
			}
			if c.point.Immediate && plan.TargetLSN != m.StopLSN {
				t.Fatalf("immediate stops at %s, the backup ended at %s", plan.TargetLSN, m.StopLSN)
			}
			res := f.restoreCluster(t, opts)
			if got := count(t, res); got != c.want {
				t.Fatalf("restored copy has %q, want %q (restored to %s)", got, c.want, res.RestoredToLSN)
			}
		})
	}

	t.Run("refused_at_plan", func(t *testing.T) {
		for _, c := range []struct {
			point restore.Point
			attr  string
		}{
			{restore.Point{Name: "no-such-point"}, "recovery_target_name"},
			{restore.Point{LSN: "FF/0"}, "recovery_target_lsn"},
			{restore.Point{LSN: "0/1"}, "recovery_target_lsn"},
			{restore.Point{XID: "4000000000"}, "recovery_target_xid"},
		} {
			opts := f.clusterOptions(t, "refused")
			opts.Point = c.point
			_, err := restore.PlanCluster(ctx, f.store, opts)
			var te *restore.TargetError
			if !errors.As(err, &te) || te.Attribute != c.attr || !errors.Is(err, restore.ErrTargetNotArchived) {
				t.Fatalf("%s: %v, want a TargetError for %s", c.point, err, c.attr)
			}
			t.Logf("%s refused: %v", c.point, err)
		}
	})
}
