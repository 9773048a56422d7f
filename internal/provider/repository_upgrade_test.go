package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// TestSourceBlockStateUpgrade: a state Terraform stored under schema
// version 0 (`source { cluster, bucket, prefix }`) comes back through the
// provider's UpgradeResourceState as version 1 (`cluster` + `repository`),
// every other value kept, for both resources that had the old shape.
func TestSourceBlockStateUpgrade(t *testing.T) {
	ctx := context.Background()
	srv, err := testAccProtoV6ProviderFactories["lifeboat"]()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}

	// Version 0 states as Terraform 1.5 writes them (attributes of
	// terraform.tfstate's instance object).
	restoreV0 := `{"id":"acme_restored","kind":"tenant","point_in_time":"latest","backup_id":null,"agent_path":"/usr/local/bin/lifeboat",
		"source":{"cluster":"odoo-main","bucket":"acme-backups","prefix":"pg"},
		"target":{"data_directory":null,"port":null,"bin_dir":null,"database":"acme_restored","source_database":"acme"},
		"postgres":{"dsn":"host=127.0.0.1 dbname=postgres","host":null,"port":null,"user":null,"password":null,"dbname":null,"sslmode":null},
		"attachments":null,"check":[{"name":"rows","sql":"SELECT 1","expected":"1"}],
		"recovery_source":"backup:20261125T094100Z+wal","wal_range":"000000010000000000000002..latest","data_loss_window":"3s",
		"restored_to_time":"2026-11-25T09:41:00Z","restored_to_lsn":null,"duration_seconds":12,"check_results":{"rows":"pass"},
		"missing_attachments":[],"timeouts":null}`
	drillV0 := `{"id":"odoo-main/nightly","name":"nightly","schedule":"@daily","kind":"cluster","database":null,"scratch_dir":null,
		"source":{"cluster":"odoo-main","bucket":"acme-backups","prefix":null},
		"postgres":null,"attachments":null,"check":[{"name":"rows","kind":"row_count_floor","sql":"SELECT 1","expected":"1","database":null}],
		"rto_target":"30m","run_on_apply":false,"evidence_retention_days":365,"agent_path":"/usr/local/bin/lifeboat",
		"last_drill_time":null,"last_drill_result":null,"last_achieved_rto_seconds":null,"last_evidence_key":null,"last_failures":null,"timeouts":null}`

	upgrade := func(t *testing.T, typeName, v0 string, r resource.Resource) tfsdk.State {
		t.Helper()
		resp, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
			TypeName: typeName, Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(v0)},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.Diagnostics {
			t.Fatalf("%s: %s", d.Summary, d.Detail)
		}
		var sr resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &sr)
		if sr.Schema.Version != 1 {
			t.Fatalf("%s schema version %d, want 1", typeName, sr.Schema.Version)
		}
		raw, err := resp.UpgradedState.Unmarshal(sr.Schema.Type().TerraformType(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return tfsdk.State{Schema: sr.Schema, Raw: raw}
	}

	t.Run("restore", func(t *testing.T) {
		st := upgrade(t, "lifeboat_restore", restoreV0, NewRestoreResource())
		var m restoreModel
		if d := st.Get(ctx, &m); d.HasError() {
			t.Fatal(d)
		}
		if m.Cluster.ValueString() != "odoo-main" || m.Repository == nil || m.Repository.Bucket.ValueString() != "acme-backups" ||
			m.Repository.Prefix.ValueString() != "pg" {
			t.Fatalf("upgraded repository: cluster %s, repository %+v", m.Cluster, m.Repository)
		}
		if m.RecoverySource.ValueString() != "backup:20261125T094100Z+wal" || m.Target.SourceDatabase.ValueString() != "acme" ||
			len(m.Checks) != 1 || m.DurationSeconds.ValueInt64() != 12 || m.Postgres == nil {
			t.Fatalf("values not kept: %+v", m)
		}
	})
	t.Run("drill_schedule", func(t *testing.T) {
		st := upgrade(t, "lifeboat_drill_schedule", drillV0, NewDrillScheduleResource())
		var m drillScheduleModel
		if d := st.Get(ctx, &m); d.HasError() {
			t.Fatal(d)
		}
		if m.Cluster.ValueString() != "odoo-main" || m.Repository == nil || m.Repository.Bucket.ValueString() != "acme-backups" ||
			!m.Repository.Prefix.IsNull() {
			t.Fatalf("upgraded repository: cluster %s, repository %+v", m.Cluster, m.Repository)
		}
		if m.Name.ValueString() != "nightly" || m.RTOTarget.ValueString() != "30m" || len(m.Checks) != 1 || m.Checks[0].Kind.ValueString() != "row_count_floor" {
			t.Fatalf("values not kept: %+v", m)
		}
	})
	t.Run("current_state_is_not_upgraded_again", func(t *testing.T) {
		// A version 1 state passes through unchanged (the framework only
		// runs upgraders for older versions).
		v1, err := moveSourceBlock([]byte(drillV0))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
			TypeName: "lifeboat_drill_schedule", Version: 1, RawState: &tfprotov6.RawState{JSON: v1},
		})
		if err != nil || len(resp.Diagnostics) > 0 {
			t.Fatalf("version 1 state: %v %v", err, resp.Diagnostics)
		}
	})
}
