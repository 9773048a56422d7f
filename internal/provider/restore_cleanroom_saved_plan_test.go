package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRestoreResource_cleanRoomSavedPlanWhileAttackerWrites: a
// clean-room restore is reviewed as a saved plan while the attacker, still
// holding the writer's keys, goes on: between `plan -out` and `apply` of
// that plan, new WAL is archived, more objects are hidden behind delete
// markers and a version the plan listed is deleted for good. The reviewed
// plan applies (Terraform plans it again first and compares), restores
// from the recovery point it named, and state keeps the forensic listing
// the reviewer saw, although a fresh listing now differs from it.
func TestAccRestoreResource_cleanRoomSavedPlanWhileAttackerWrites(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	exec := func(sql string) { t.Helper(); f.exec(t, sql) }
	exec("DROP TABLE IF EXISTS vault")
	exec("CREATE TABLE vault (id int PRIMARY KEY, secret text)")
	exec("INSERT INTO vault SELECT g, 'gold' FROM generate_series(1, 30) g")
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	restorer, _ := testAccRoleUser(t, randomName("restorer"), access.RoleRestorer, f.bucket, layout)
	writer, writerSecret := testAccRoleUser(t, randomName("writer"), access.RoleWriter, f.bucket, layout)
	wc := env.MinIO[0].Client(t, writer, writerSecret)
	ws, admin := wc.Store(f.bucket), testAccClient(t).Store(f.bucket)
	signer, _ := signature.Generate()
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	tf := terraformCLI(t)

	// The compromise, then the first wave: the table wrecked, its WAL
	// archived, the base backups hidden behind delete markers.
	time.Sleep(1100 * time.Millisecond)
	notAfter := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	exec("UPDATE vault SET secret = 'ENCRYPTED'")
	exec("DROP TABLE vault")
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	keysOf := func(dir string, kind repo.Kind) []string {
		var keys []string
		if err := admin.List(ctx, dir, func(o objectstore.ObjectInfo) error {
			if k, ok := layout.Parse(o.Key); ok && k.Kind == kind {
				keys = append(keys, o.Key)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	manifests := keysOf(layout.BaseBackupsDir(), repo.KindBackupManifest)
	if len(manifests) == 0 {
		t.Fatal("no base backup manifest")
	}
	for _, k := range manifests {
		if err := ws.Delete(ctx, k); err != nil {
			t.Fatalf("the writer hides %s: %v", k, err)
		}
	}

	// The cluster's signed policy declares how long restore audit
	// records stay locked: the provider's restore follows it.
	if err := repo.WritePolicy(ctx, admin, layout, repo.Policy{Cluster: "main", Schedule: "@daily",
		AuditRetention: &repo.AuditRetention{Mode: objectstore.ModeGovernance, Days: 2}}, signer); err != nil {
		t.Fatal(err)
	}

	port, _ := testenv.FreePort()
	dir := filepath.Join(f.scratch, "clean-room-saved")
	tf.Write(t, `
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}
`+strings.Replace(testAccRestoreConfig_cleanRoom(f, restorer, dir, port, true, notAfter.Format(time.RFC3339), "30"),
		`"lifeboat_restore" "test"`, `"lifeboat_restore" "clean"`, 1))
	t.Cleanup(func() { tf.Run(t, "destroy", "-auto-approve", "-input=false") })

	tf.Run(t, "plan", "-input=false", "-out=reviewed.tfplan")
	var planned struct {
		ResourceChanges []struct {
			Change struct {
				After map[string]any `json:"after"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(tf.Run(t, "show", "-json", "reviewed.tfplan")), &planned); err != nil {
		t.Fatal(err)
	}
	if len(planned.ResourceChanges) != 1 {
		t.Fatalf("%d planned changes, want 1", len(planned.ResourceChanges))
	}
	after := planned.ResourceChanges[0].Change.After
	source, _ := after["recovery_source"].(string)
	summary, _ := after["forensic_summary"].(string)
	changes, _ := after["forensic_changes"].([]any)
	if !strings.HasPrefix(source, "backup:") || !strings.Contains(summary, "delete marker") || len(changes) == 0 {
		t.Fatalf("saved plan: recovery_source %q, forensic_summary %q, %d forensic_changes: want all known, with the hidden manifests", source, summary, len(changes))
	}

	// The attacker goes on between the review and the apply: more WAL,
	// more delete markers, and a listed version (a delete marker made
	// before the plan) deleted for good.
	exec("CREATE TABLE ransom (note text)")
	exec("INSERT INTO ransom VALUES ('pay up')")
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	segments := keysOf(layout.WALDir(), repo.KindWAL)
	hidden := 0
	for _, k := range segments {
		if hidden == 3 {
			break
		}
		if err := ws.Delete(ctx, k); err != nil {
			t.Fatalf("the writer hides %s: %v", k, err)
		}
		hidden++
	}
	var marker objectstore.ObjectInfo
	if err := admin.ListVersions(ctx, manifests[0], func(o objectstore.ObjectInfo) error {
		if o.Key == manifests[0] && o.DeleteMarker {
			marker = o
		}
		return nil
	}); err != nil || marker.VersionID == "" {
		t.Fatalf("the delete marker over %s: %+v, %v", manifests[0], marker, err)
	}
	if err := admin.DeleteVersion(ctx, marker.Key, marker.VersionID); err != nil {
		t.Fatalf("deleting the listed delete marker %s@%s: %v", marker.Key, marker.VersionID, err)
	}
	fresh, err := restore.Forensics(ctx, admin, layout, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if lines := fresh.Lines(forensicLines); reflect.DeepEqual(anyStrings(changes), lines) {
		t.Fatalf("the repository did not change after the plan: %s", fresh.Summary())
	}

	// The reviewed plan applies, from the recovery point it named, with
	// the forensic listing it showed.
	tf.Run(t, "apply", "-input=false", "reviewed.tfplan")
	state := tf.State(t)
	if n := len(state); n != 1 {
		t.Fatalf("%d resources in state, want 1", n)
	}
	got := state["lifeboat_restore.clean"]
	if got["recovery_source"] != source {
		t.Errorf("restored from %v, the plan named %s", got["recovery_source"], source)
	}
	if got["forensic_summary"] != summary {
		t.Errorf("forensic_summary %v, the plan showed %q", got["forensic_summary"], summary)
	}
	if gc, _ := got["forensic_changes"].([]any); !reflect.DeepEqual(anyStrings(gc), anyStrings(changes)) {
		t.Errorf("forensic_changes %v, the plan showed %v", gc, changes)
	}
	if cr, _ := got["check_results"].(map[string]any); cr["vault"] != "pass" {
		t.Errorf("check_results %v: the clean room did not bring back the 30 rows from before the compromise", cr)
	}
	trust, _ := signature.NewTrust(signer.Public().String())
	e, err := lastAudit(ctx, admin, layout, trust)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Record; !r.CleanRoom || r.Result != restore.AuditSucceeded || r.ReadAccessKeyID != restorer || e.SignatureError != nil ||
		!e.Locked || e.LockedUntil.Before(time.Now().Add(47*time.Hour)) || e.LockedUntil.After(time.Now().Add(49*time.Hour)) {
		t.Fatalf("audit record %+v (signature %v) locked until %s: want the policy's declared 2 days", r, e.SignatureError, e.LockedUntil)
	}
	if out := tf.Run(t, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}
	t.Logf("planned %s; fresh listing now: %s", summary, fresh.Summary())
}

func anyStrings(vs []any) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, fmt.Sprint(v))
	}
	return out
}
