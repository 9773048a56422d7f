package restore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestAccReviewLive: a rollback's compatibility review compares what the
// restore point recorded of the tenant (signed by a trusted key) with the
// live database, read through the DSN given. It is kept for the saved plan:
// asked again after the live schema moved on, it is the review first
// shown, until released. A point that recorded nothing of the database is
// ErrNoPointSchema; a record signed by another key is refused.
func TestAccReviewLive(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	db := fmt.Sprintf("review_%08x", rand.Uint32())
	psql(t, pg, "postgres", "CREATE DATABASE "+db)
	t.Cleanup(func() { _, _ = pg.Psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	psql(t, pg, db, `CREATE TABLE ir_module_module (id serial PRIMARY KEY, name text UNIQUE, latest_version text, state text);
INSERT INTO ir_module_module (name, latest_version, state) VALUES ('sale', '16.0.1.0', 'installed');
CREATE TABLE sale_order (id int PRIMARY KEY, amount numeric(12,2), note text)`)

	// The point's record, as lifeboat_restore_point writes it.
	l := repo.Layout{Prefix: "review", Cluster: fmt.Sprintf("c%08x", rand.Uint32())}
	signer, _ := signature.Generate()
	trust, _ := signature.NewTrust(signer.Public().String())
	conn, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	then, err := restore.CaptureSchema(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	then.RestorePoint = "before-upgrade"
	if err := restore.WritePointSchema(ctx, f.store, l, then, signer); err != nil {
		t.Fatal(err)
	}

	// The upgrade.
	psql(t, pg, db, `UPDATE ir_module_module SET latest_version = '16.0.2.0' WHERE name = 'sale';
ALTER TABLE sale_order DROP COLUMN note; ALTER TABLE sale_order ADD COLUMN points int`)
	req := restore.Request{Kind: restore.KindTenant, Layout: l, Database: db, NewDatabase: db + "_before",
		Point: restore.Point{Name: "before-upgrade"}}
	// The DSN names another database: the review reads the tenant's.
	review, kept, err := restore.ReviewLive(ctx, f.store, req, pg.DSN("postgres"), db, trust)
	if err != nil || kept {
		t.Fatalf("ReviewLive = kept %v, %v", kept, err)
	}
	want := &restore.Review{RestorePoint: "before-upgrade", Database: db, PointTakenAt: then.TakenAt, ReviewedAt: review.ReviewedAt,
		Modules: []restore.ModuleChange{{Name: "sale", PointVersion: "16.0.1.0", PointState: "installed", LiveVersion: "16.0.2.0", LiveState: "installed",
			RollbackEffect: "downgraded from 16.0.2.0 to 16.0.1.0"}},
		TablesAdded: []string{}, TablesDropped: []string{}, ColumnsAdded: []string{"sale_order.points integer"},
		ColumnsDropped: []string{"sale_order.note text"}, ColumnsChanged: []string{}}
	if !reflect.DeepEqual(review, want) || !review.ReviewedAt.After(then.TakenAt) {
		t.Fatalf("review:\n%+v\nwant\n%+v", review, want)
	}

	// A hotfix before the saved plan applies: the kept review is the one shown.
	psql(t, pg, db, "ALTER TABLE sale_order ADD COLUMN hotfix int")
	again, kept, err := restore.ReviewLive(ctx, f.store, req, pg.DSN("postgres"), db, trust)
	if err != nil || !kept || !reflect.DeepEqual(again.ColumnsAdded, review.ColumnsAdded) || !again.ReviewedAt.Equal(review.ReviewedAt) {
		t.Fatalf("second review: kept %v, %v: %+v", kept, err, again)
	}
	if err := restore.ReleaseKeptReview(ctx, f.store, req); err != nil {
		t.Fatal(err)
	}
	fresh, kept, err := restore.ReviewLive(ctx, f.store, req, pg.DSN("postgres"), db, trust)
	if err != nil || kept || len(fresh.ColumnsAdded) != 2 {
		t.Fatalf("review after release: kept %v, %v: %+v", kept, err, fresh)
	}
	if err := restore.ReleaseKeptReview(ctx, f.store, req); err != nil {
		t.Fatal(err)
	}

	// No record of the database at the point; a record the trust refuses.
	other := req
	other.Point.Name = "never-recorded"
	if _, _, err := restore.ReviewLive(ctx, f.store, other, pg.DSN("postgres"), db, trust); !errors.Is(err, restore.ErrNoPointSchema) {
		t.Fatalf("point without a record: %v, want ErrNoPointSchema", err)
	}
	stranger, _ := signature.Generate()
	strangers, _ := signature.NewTrust(stranger.Public().String())
	if _, _, err := restore.ReviewLive(ctx, f.store, req, pg.DSN("postgres"), db, strangers); err == nil {
		t.Fatal("a record signed by an untrusted key was reviewed")
	}
}
