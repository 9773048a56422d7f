package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestAccTrustWarnings_terraformCLI: the warnings #13 promises, as the
// Terraform CLI prints them against MinIO (terraform-plugin-testing cannot
// see warnings).
//   - lifeboat_immutable_bucket's writer_probe given keys that may do the
//     forbidden actions (the provider's own): apply warns, naming them.
//   - lifeboat_drill_schedule's refresh verifies the newest drill evidence
//     against evidence_trusted_keys: the agent's signed record passes
//     quietly; a "passed" record a writer of the bucket added, unsigned or
//     signed with its own key, is flagged.
func TestAccTrustWarnings_terraformCLI(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	bucket := randomName("lb-trustwarn")
	agent, _ := signature.Generate()
	attacker, _ := signature.Generate()
	tf := terraformCLI(t)
	tf.Write(t, fmt.Sprintf(`
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
  writer_probe {
    access_key = %[2]q
    secret_key = %[3]q
    cluster    = "main"
    prefix     = "pg"
  }
}

resource "lifeboat_drill_schedule" "nightly" {
  name                  = "nightly"
  schedule              = "@daily"
  kind                  = "cluster"
  rto_target            = "10m"
  evidence_trusted_keys = [%[4]q]
  cluster               = "main"
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
}
`, bucket, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), agent.Public().String()))
	t.Cleanup(func() { tf.Run(t, "destroy", "-auto-approve", "-input=false") })

	out := tf.Run(t, "apply", "-auto-approve", "-input=false")
	if !strings.Contains(out, "Warning: Writer Can Do Forbidden Actions") {
		t.Fatalf("apply with the provider's own keys as the writer's did not warn:\n%s", out)
	}

	store := testAccClient(t).Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	put := func(id string, signer *signature.Signer) string {
		t.Helper()
		ev := drill.Evidence{Format: 1, ID: id, Schedule: "nightly", Cluster: "main", Passed: true, RTOSeconds: 12,
			Started: time.Now().Add(-time.Minute).UTC(), Finished: time.Now().UTC()}
		body, _ := json.MarshalIndent(ev, "", "  ")
		key := l.DrillEvidenceKey("nightly", id)
		if _, err := store.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)), Metadata: signer.Sign(key, body, nil)}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	const flagged = "Drill Evidence Signature Not Verified"
	put(time.Now().UTC().Format("20060102T150405Z")+"-agent", agent)
	if out := tf.Run(t, "plan", "-input=false"); strings.Contains(out, flagged) {
		t.Fatalf("the agent's own signed evidence was flagged:\n%s", out)
	}
	for _, forger := range []*signature.Signer{nil, attacker} {
		time.Sleep(1100 * time.Millisecond) // the newest evidence id
		key := put(time.Now().UTC().Format("20060102T150405Z")+"-forged", forger)
		if out := tf.Run(t, "plan", "-input=false"); !strings.Contains(out, flagged) || !strings.Contains(out, key) {
			t.Fatalf("refresh did not flag the forged evidence %s (signed by %v):\n%s", key, forger != nil, out)
		}
	}
}
