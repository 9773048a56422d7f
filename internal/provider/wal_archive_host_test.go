package provider

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// agent_host makes agent_config a host's whole bootstrap file: the host
// name requests address is in it, with the restorer of
// restorer_credentials, and archive_command points at the file with no
// secret in it.
func TestWalArchiveRendersBootstrap(t *testing.T) {
	r := &walArchiveResource{data: &providerData{}}
	m := &walArchiveModel{Cluster: types.StringValue("odoo-main"), RPO: types.StringValue("5m"), Compression: types.StringValue("zstd"),
		AgentPath: types.StringValue("/usr/local/bin/lifeboat"), AgentConfigPath: types.StringValue("/etc/lifeboat/bootstrap.json"),
		AgentHost:        types.StringValue("db-eu-1"),
		Repository:       &repositoryRef{Bucket: types.StringValue("acme-odoo-backups"), Prefix: types.StringValue("pg")},
		AgentCredentials: &agentCredentialsModel{AccessKey: types.StringValue("WRITER"), SecretKey: types.StringValue("s3cr3t")},
		RestorerCredentials: &agentCredentialsModel{AccessKey: types.StringValue("RESTORER"), SecretKey: types.StringValue("r3ad0nly"),
			Profile: types.StringNull()}}
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
	// restorer_credentials become the bootstrap's restorer, which the
	// agent restores and runs clean rooms with; printing the config masks
	// its secret.
	if back.Restorer == nil || back.Restorer.AccessKey != "RESTORER" || back.Restorer.SecretKey != "r3ad0nly" {
		t.Fatalf("bootstrap %s: want the restorer's keys", b)
	}
	if strings.Contains(cfg.String(), "r3ad0nly") {
		t.Fatalf("the printed configuration holds the restorer's secret: %s", cfg)
	}
	m.RestorerCredentials = nil
	if _, cfg := r.desired(m); cfg.Restorer != nil {
		t.Fatalf("no restorer_credentials, restorer %+v", cfg.Restorer)
	}
	if !strings.Contains(settings.ArchiveCommand, "/etc/lifeboat/bootstrap.json") || strings.Contains(settings.ArchiveCommand, "s3cr3t") {
		t.Fatalf("archive_command %q: want the bootstrap path and no secret", settings.ArchiveCommand)
	}
}
