package restore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// restorerStore is the fixture's repository as a MinIO user made from the
// restorer's policy document sees it (read-only), with the agent
// configuration restore_command then uses.
func (f *fixture) restorerStore(t *testing.T, name string) (objectstore.Store, repo.AgentConfig) {
	t.Helper()
	m := f.env.MinIO[0]
	cfg := f.cfg
	cfg.AccessKey, cfg.SecretKey = accesstest.User(t, m, name, access.RoleRestorer, cfg.Bucket, cfg.Layout())
	return m.Client(t, cfg.AccessKey, cfg.SecretKey).Store(cfg.Bucket), cfg
}

// TestAccRestoreAudit: every restore leaves a signed audit record under
// object lock saying who restored what to where and how it ended, a
// failed one included; a restore with restorer credentials reads with them
// only and has its record written with other credentials; a restore whose
// start cannot be recorded does not run; a forged or unsigned record is
// flagged; a locked record cannot be deleted.
func TestAccRestoreAudit(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	psql(t, pg, "postgres", "DROP TABLE IF EXISTS audited; CREATE TABLE audited (id int PRIMARY KEY)")
	psql(t, pg, "postgres", "INSERT INTO audited SELECT generate_series(1, 42)")
	m := f.takeBackup(t)

	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signature.NewTrust(signer.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	rstore, rcfg := f.restorerStore(t, "audit-restorer")
	audit := restore.AuditOptions{Store: f.store, Signer: signer, FrontEnd: restore.FrontEndCLI, Actor: "audit test", Retention: time.Hour}
	request := func(name string) restore.Request {
		opts := f.clusterOptions(t, name)
		return restore.Request{Kind: restore.KindCluster, Layout: opts.Layout, DataDir: opts.DataDir, Port: opts.Port, BinDir: opts.BinDir,
			OSUser: opts.OSUser, AgentPath: opts.AgentPath, AgentConfig: rcfg, Audit: audit,
			Checks: []restore.Check{{Name: "rows", Kind: restore.CheckSQL, SQL: "SELECT count(*) FROM audited", Expected: "42"}}}
	}
	entry := func(t *testing.T, id string) restore.AuditEntry {
		t.Helper()
		all, err := restore.ListAudit(ctx, f.store, f.cfg.Layout(), trust)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if e.Record.ID == id || strings.Contains(e.FinishedKey, "/"+id+"/") {
				return e
			}
		}
		t.Fatalf("no audit record %s among %d", id, len(all))
		return restore.AuditEntry{}
	}
	recordID := func(key string) string { k, _ := f.cfg.Layout().Parse(key); return k.ID }

	var okKey string
	t.Run("restorer_reads_and_the_record_is_signed_and_locked", func(t *testing.T) {
		req := request("audited")
		out, err := restore.Restore(ctx, rstore, req)
		if err != nil {
			t.Fatalf("restore reading with restorer credentials only: %v", err)
		}
		defer func() { _ = restore.Teardown(ctx, req) }()
		if !out.ChecksPassed() || out.AuditError != nil || out.AuditKey == "" {
			t.Fatalf("checks %+v, audit %q %v", out.Checks, out.AuditKey, out.AuditError)
		}
		okKey = out.AuditKey
		e := entry(t, recordID(out.AuditKey))
		r := e.Record
		if r.Result != restore.AuditSucceeded || r.Source != "backup:"+m.ID+"+wal" || r.Kind != restore.KindCluster ||
			r.DataDirectory != req.DataDir || r.Port != req.Port || r.Listen != "127.0.0.1" || r.PointInTime != "latest" ||
			r.FrontEnd != restore.FrontEndCLI || r.Actor != "audit test" || r.Cluster != f.cfg.Cluster ||
			r.Finished.Before(r.Started) || r.RestoredToLSN != out.RestoredToLSN || r.ChecksPassed == nil || !*r.ChecksPassed {
			t.Fatalf("record %+v for outcome %+v", r, out)
		}
		// Who: reads went through the restorer's keys, the record through
		// the other credentials, signed by the signer.
		if r.ReadAccessKeyID != "audit-restorer" || r.WriteAccessKeyID != f.cfg.AccessKey || r.Signer != signer.Public().ID() {
			t.Fatalf("record says read as %q, written as %q, signer %q", r.ReadAccessKeyID, r.WriteAccessKeyID, r.Signer)
		}
		if e.SignatureError != nil || e.SignedBy != signer.Public().ID() || !e.Locked || e.LockedUntil.Before(time.Now().Add(50*time.Minute)) ||
			e.Inconsistent != "" || e.StartedKey == "" || e.LaterVersions != 0 {
			t.Fatalf("entry %+v", e)
		}
	})

	t.Run("failed_restores_are_recorded", func(t *testing.T) {
		// Refused at planning: before the first backup.
		req := request("too-early")
		req.Target = m.StartTime.Add(-time.Hour)
		if _, err := restore.Restore(ctx, rstore, req); !errors.Is(err, restore.ErrOutsideWindow) {
			t.Fatalf("restore before the first backup: %v", err)
		}
		// Failed while executing: the target directory is taken.
		taken := request("taken")
		if err := os.MkdirAll(taken.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(taken.DataDir, "live-data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := restore.Restore(ctx, rstore, taken); !errors.Is(err, restore.ErrTargetNotEmpty) {
			t.Fatalf("restore into a taken directory: %v", err)
		}
		all, err := restore.ListAudit(ctx, f.store, f.cfg.Layout(), trust)
		if err != nil {
			t.Fatal(err)
		}
		var failed []restore.AuditRecord
		for _, e := range all {
			if e.Record.Result == restore.AuditFailed && e.SignatureError == nil && e.Locked {
				failed = append(failed, e.Record)
			}
		}
		if len(failed) != 2 || !strings.Contains(failed[0].Error, "window") || failed[0].PointInTime != req.Target.UTC().Format(time.RFC3339Nano) ||
			!strings.Contains(failed[1].Error, "taken") || failed[1].Source != "backup:"+m.ID+"+wal" {
			t.Fatalf("failed restores recorded as %+v", failed)
		}
	})

	t.Run("no_record_no_restore", func(t *testing.T) {
		// The restorer's own credentials cannot write the record: the
		// restore refuses to run unrecorded, and touches nothing.
		req := request("unrecorded")
		req.Audit.Store = rstore
		_, err := restore.Restore(ctx, rstore, req)
		if !errors.Is(err, restore.ErrAuditNotWritten) || !errors.Is(err, objectstore.ErrAccessDenied) {
			t.Fatalf("restore with a read-only audit store: %v", err)
		}
		if _, err := os.Stat(req.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("an unrecorded restore created %s", req.DataDir)
		}
	})

	t.Run("forged_and_unsigned_records_are_flagged", func(t *testing.T) {
		rc, info, err := f.store.Get(ctx, okKey)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		var rec restore.AuditRecord
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatal(err)
		}
		// A writer copies a good record under a new id, naming another
		// target, and keeps the signature.
		forgedID := "20261130T000000.000Z-f0f0f0f0"
		rec.ID, rec.DataDirectory = forgedID, "/elsewhere"
		forged, _ := json.Marshal(rec)
		for _, phase := range []string{repo.AuditStarted, repo.AuditFinished} {
			key := f.cfg.Layout().RestoreAuditKey(forgedID, phase)
			if _, err := f.store.Put(ctx, key, bytes.NewReader(forged), objectstore.PutOptions{Size: int64(len(forged)), Metadata: info.Metadata}); err != nil {
				t.Fatal(err)
			}
		}
		unsignedID := "20261130T000001.000Z-0a0a0a0a"
		rec.ID = unsignedID
		unsigned, _ := json.Marshal(rec)
		if _, err := f.store.Put(ctx, f.cfg.Layout().RestoreAuditKey(unsignedID, repo.AuditFinished), bytes.NewReader(unsigned),
			objectstore.PutOptions{Size: int64(len(unsigned))}); err != nil {
			t.Fatal(err)
		}
		if e := entry(t, forgedID); !errors.Is(e.SignatureError, signature.ErrForged) || e.SignedBy != "" || e.Locked {
			t.Fatalf("forged record: %+v", e)
		}
		if e := entry(t, unsignedID); !errors.Is(e.SignatureError, signature.ErrUnsigned) || e.StartedKey != "" {
			t.Fatalf("unsigned record: %+v", e)
		}
		// The genuine one still verifies.
		if e := entry(t, recordID(okKey)); e.SignatureError != nil {
			t.Fatalf("genuine record: %v", e.SignatureError)
		}
	})

	t.Run("the_signed_policy_declares_the_retention", func(t *testing.T) {
		layout := f.cfg.Layout()
		t.Cleanup(func() { _ = f.store.Delete(ctx, layout.PolicyKey()) })
		retention := func(t *testing.T, key string) (time.Time, string) {
			t.Helper()
			info, err := f.store.Head(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := f.store.(interface {
				Retention(ctx context.Context, key, versionID string) (time.Time, string, bool)
			})
			if !ok {
				t.Fatalf("%T reports no retention", f.store)
			}
			until, mode, has := r.Retention(ctx, key, info.VersionID)
			if !has {
				t.Fatalf("%s has no retention", key)
			}
			return until, mode
		}
		// A restore refused at planning is recorded too: the cheapest one.
		failing := func(name string) restore.Request {
			req := request(name)
			req.Target = m.StartTime.Add(-time.Hour)
			req.Audit.Trust = trust
			return req
		}
		newest := func(t *testing.T) string {
			t.Helper()
			all, err := restore.ListAudit(ctx, f.store, layout, trust)
			if err != nil || len(all) == 0 {
				t.Fatalf("%d records: %v", len(all), err)
			}
			return all[len(all)-1].FinishedKey
		}
		declared := repo.Policy{Cluster: f.cfg.Cluster, Schedule: "@daily", AuditRetention: &repo.AuditRetention{Mode: objectstore.ModeGovernance, Days: 3}}
		if err := repo.WritePolicy(ctx, f.store, layout, declared, signer); err != nil {
			t.Fatal(err)
		}
		if _, err := restore.Restore(ctx, rstore, failing("declared")); !errors.Is(err, restore.ErrOutsideWindow) {
			t.Fatalf("restore before the first backup: %v", err)
		}
		// The declared 3 days in GOVERNANCE, not the request's hour in
		// COMPLIANCE.
		until, mode := retention(t, newest(t))
		if mode != objectstore.ModeGovernance || until.Before(time.Now().Add(71*time.Hour)) || until.After(time.Now().Add(73*time.Hour)) {
			t.Fatalf("record locked until %s (%s), want 3 days in GOVERNANCE as the policy declares", until, mode)
		}
		// A longer retention of the request (a drill's evidence_days)
		// extends it; the declared one is the least.
		longer := failing("longer")
		longer.Audit.Retention = 5 * 24 * time.Hour
		if _, err := restore.Restore(ctx, rstore, longer); !errors.Is(err, restore.ErrOutsideWindow) {
			t.Fatal(err)
		}
		if until, _ := retention(t, newest(t)); until.Before(time.Now().Add(119 * time.Hour)) {
			t.Fatalf("record locked until %s, want the request's 5 days", until)
		}
		// A policy signed by another key declares nothing: the defaults
		// (the request's hour, COMPLIANCE) hold.
		other, _ := signature.Generate()
		declared.AuditRetention.Days = 30
		if err := repo.WritePolicy(ctx, f.store, layout, declared, other); err != nil {
			t.Fatal(err)
		}
		if _, err := restore.Restore(ctx, rstore, failing("untrusted")); !errors.Is(err, restore.ErrOutsideWindow) {
			t.Fatal(err)
		}
		if until, mode := retention(t, newest(t)); mode != objectstore.ModeCompliance || until.After(time.Now().Add(2*time.Hour)) {
			t.Fatalf("record under an untrusted policy locked until %s (%s), want the request's hour in COMPLIANCE", until, mode)
		}
	})

	t.Run("a_record_cannot_be_deleted", func(t *testing.T) {
		var version string
		if err := f.store.ListVersions(ctx, okKey, func(o objectstore.ObjectInfo) error {
			if o.Key == okKey {
				version = o.VersionID
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.DeleteVersion(ctx, okKey, version); !errors.Is(err, objectstore.ErrObjectLocked) {
			t.Fatalf("deleting the locked record's version (even with the provider's keys): %v", err)
		}
		// A delete marker hides nothing from the audit: the record is read
		// at its first version, and the marker is reported.
		if err := f.store.Delete(ctx, okKey); err != nil {
			t.Fatal(err)
		}
		e := entry(t, recordID(okKey))
		if e.Record.Result != restore.AuditSucceeded || e.SignatureError != nil || e.LaterVersions != 1 {
			t.Fatalf("after a delete marker: %+v", e)
		}
	})
}
