package posture_test

import (
	"context"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureWALCompressionCollapse archives real WAL with wal.Push:
// ordinary rows compress many times over and pass; then rows of random
// bytes (what a table looks like once ransomware encrypted it) make the
// newest segments incompressible, and the control fails naming them, with
// the baseline and the observed ratio.
func TestAccPostureWALCompressionCollapse(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("walratio")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)
	a.exec("create extension if not exists pgcrypto")
	a.exec("drop table if exists anomaly_rows")
	a.exec("create table anomaly_rows(x int, pad text, b bytea)")
	a.exec("alter table anomaly_rows alter column b set storage external")
	ordinary := func() {
		a.exec("insert into anomaly_rows(x, pad) select g, repeat('order ' || (g % 50), 30) from generate_series(1, 40000) g")
		a.switchAndPush(store, l)
	}
	for i := 0; i < 4; i++ {
		ordinary()
	}
	evaluate := func(since time.Time) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		r := posture.Evaluate(o, posture.Params{AnomalyWindow: time.Since(since) + 500*time.Millisecond})
		f, _ := r.Find(posture.ControlWALCompression, "main")
		return f
	}
	time.Sleep(2500 * time.Millisecond) // object times have a second's precision
	start := time.Now()
	ordinary()
	f := want(t, &posture.Report{Findings: []posture.Finding{evaluate(start)}}, posture.ControlWALCompression, "main", posture.Pass, "x over 1 segment(s)")
	if f.Measures[posture.MeasureObserved] < 3 || f.Measures[posture.MeasureBaseline] < 3 {
		t.Fatalf("ordinary rows compress %.2fx against %.2fx: expected several times over", f.Measures[posture.MeasureObserved], f.Measures[posture.MeasureBaseline])
	}

	time.Sleep(2500 * time.Millisecond)
	start = time.Now()
	a.exec("insert into anomaly_rows(x, b) select g, gen_random_bytes(1024) from generate_series(1, 40000) g")
	a.switchAndPush(store, l)
	f = want(t, &posture.Report{Findings: []posture.Finding{evaluate(start)}}, posture.ControlWALCompression, "main", posture.Fail, "segment(s) of the last")
	if obs, base := f.Measures[posture.MeasureObserved], f.Measures[posture.MeasureBaseline]; obs > 1.5 || base < 3 {
		t.Fatalf("random rows compress %.2fx against a baseline of %.2fx: want about 1x against several", obs, base)
	}
	if len(f.Evidence) == 0 {
		t.Fatal("no segment named")
	}
	hasEvidence(t, f, l.WALDir())
}

// TestAccPostureBackupSizeDrop dumps a tenant database four times with
// pg_dump (the same size each time: pass), then deletes most of its rows
// and dumps it again: the newest dump is a fraction of the earlier ones and
// the control fails naming its manifest.
func TestAccPostureBackupSizeDrop(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("sizedrop")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)
	a.exec("drop database if exists anomaly_tenant")
	a.exec("create database anomaly_tenant")
	tenant, err := env.Postgres.Psql("anomaly_tenant", "create table orders(id int, note text); insert into orders select g, md5(g::text) || md5((g*7)::text) from generate_series(1, 60000) g")
	if err != nil {
		t.Fatal(tenant, err)
	}
	dump := func() *backup.TenantManifest {
		t.Helper()
		m, err := backup.DumpTenant(ctx, store, backup.TenantOptions{Layout: l, DSN: env.Postgres.DSN("anomaly_tenant")}, "anomaly_tenant")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // dump IDs are per second
		return m
	}
	evaluate := func() *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{})
	}
	for i := 0; i < 3; i++ {
		dump()
	}
	want(t, evaluate(), posture.ControlSizeDrop, "main", posture.Unknown, "not enough to judge")
	dump()
	f := want(t, evaluate(), posture.ControlSizeDrop, "main", posture.Pass, "dump of anomaly_tenant")
	if f.Measures[posture.MeasureObserved] < 0.9 {
		t.Fatalf("same data dumped again: %.2f of the baseline", f.Measures[posture.MeasureObserved])
	}
	if out, err := env.Postgres.Psql("anomaly_tenant", "delete from orders where id > 3000"); err != nil {
		t.Fatal(out, err)
	}
	m := dump()
	f = want(t, evaluate(), posture.ControlSizeDrop, "main", posture.Fail, "dump of anomaly_tenant")
	hasEvidence(t, f, l.TenantManifestKey("anomaly_tenant", m.ID))
	if f.Measures[posture.MeasureObserved] > 0.2 {
		t.Fatalf("95%% of the rows deleted: the newest dump is %.2f of the baseline", f.Measures[posture.MeasureObserved])
	}
}
