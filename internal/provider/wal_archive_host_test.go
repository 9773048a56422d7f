package provider

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// agent_host makes agent_config a host's whole bootstrap file: the host
// name requests address is in it, and archive_command points at the file
// with no secret in it.
func TestWalArchiveRendersBootstrap(t *testing.T) {
	r := &walArchiveResource{data: &providerData{}}
	m := &walArchiveModel{Cluster: types.StringValue("odoo-main"), RPO: types.StringValue("5m"), Compression: types.StringValue("zstd"),
		AgentPath: types.StringValue("/usr/local/bin/lifeboat"), AgentConfigPath: types.StringValue("/etc/lifeboat/bootstrap.json"),
		AgentHost:        types.StringValue("db-eu-1"),
		Repository:       &repositoryRef{Bucket: types.StringValue("acme-odoo-backups"), Prefix: types.StringValue("pg")},
		AgentCredentials: &agentCredentialsModel{AccessKey: types.StringValue("WRITER"), SecretKey: types.StringValue("s3cr3t")}}
	settings, cfg := r.desired(m)
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var back repo.AgentConfig
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Host != "db-eu-1" || back.Cluster != "odoo-main" || back.AccessKey != "WRITER" {
		t.Fatalf("bootstrap %s: want host db-eu-1, cluster odoo-main and the writer's key", b)
	}
	if !strings.Contains(settings.ArchiveCommand, "/etc/lifeboat/bootstrap.json") || strings.Contains(settings.ArchiveCommand, "s3cr3t") {
		t.Fatalf("archive_command %q: want the bootstrap path and no secret", settings.ArchiveCommand)
	}
}
