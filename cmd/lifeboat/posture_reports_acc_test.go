package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// `posture report --store` signs the stored report with the
// configuration's signing key; `posture reports` verifies it against that
// key and exits 0, and once a report signed by another key is stored
// beside it, flags that one and exits 1.
func TestAccPostureReportsCommand(t *testing.T) {
	env := testenv.Require(t)
	m := env.MinIO[0]
	ctx := context.Background()
	dir := t.TempDir()
	agent, _ := signature.Generate()
	keyFile := filepath.Join(dir, "agent.key")
	if err := os.WriteFile(keyFile, []byte(agent.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Bucket: fmt.Sprintf("posture-reports-%08x", rand.Uint32()), Prefix: "pg", Cluster: "main", SigningKeyFile: keyFile}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: cfg.Bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	body, _ := cfg.Marshal()
	cfgPath := filepath.Join(dir, "lifeboat.json")
	if err := os.WriteFile(cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	err = runPostureReport(ctx, cfg, client, postureOptions{format: "json", store: true, retainDays: 1, params: posture.DefaultParams}, io.Discard)
	if err != nil && exitCode(err) != exitPostureFailed {
		t.Fatal(err)
	}
	run := func() (string, error) {
		var out bytes.Buffer
		err := runPostureReports(ctx, signedListing{agentFlags: agentFlags{configPath: cfgPath}, keys: []string{agent.Public().String()},
			format: "text", out: &out})
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "signer "+agent.Public().ID()) || strings.Contains(out, "FLAGGED") {
		t.Fatalf("the stored report: %v\n%s", err, out)
	}

	other, _ := signature.Generate()
	r := posture.Evaluate(&posture.Observation{}, posture.Params{})
	r.Generated = time.Now().Add(time.Hour)
	if _, err := posture.StoreReport(ctx, client.Store(cfg.Bucket), cfg.Layout(), r, "json", time.Hour, other); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if !errors.Is(err, errReportsFlagged) || exitCode(err) != 1 || strings.Count(out, "FLAGGED: signed by an untrusted key") != 1 {
		t.Fatalf("a report signed by another key: %v (exit %d)\n%s", err, exitCode(err), out)
	}
}
