package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccDrillReport_flagsForgedEvidence: against MinIO, as the writer a
// database host holds. The agent's drill evidence (signed with its key)
// stands; a "passed" record the attacker put beside it with the same
// writer keys, unsigned or signed with a key of its own, is marked by
// `lifeboat drill report --evidence-key`, and a "passed" written over the
// agent's failed record shows the original.
func TestAccDrillReport_flagsForgedEvidence(t *testing.T) {
	env := testenv.Require(t)
	f, _ := setupWriterRepo(t, env, "drill-forged")
	ctx := context.Background()
	writer, err := objectstore.NewClient(ctx, f.cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	ws, l := writer.Store(f.cfg.Bucket), f.cfg.Layout()
	agent, _ := signature.Generate()
	attacker, _ := signature.Generate()
	put := func(id string, passed bool, signer *signature.Signer) string {
		t.Helper()
		ev := drill.Evidence{Format: 1, ID: id, Schedule: "nightly", Cluster: f.cfg.Cluster, Passed: passed, RTOSeconds: 12,
			Started: time.Now().Add(-time.Minute).UTC(), Finished: time.Now().UTC()}
		if !passed {
			ev.Error = "restore failed"
		}
		body, _ := json.MarshalIndent(ev, "", "  ")
		key := l.DrillEvidenceKey("nightly", id)
		if _, err := ws.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)),
			Metadata: signer.Sign(key, body, nil)}); err != nil {
			t.Fatalf("the writer puts %s: %v", key, err)
		}
		return key
	}
	put("20261101T000000Z-real", false, agent)
	put("20261102T000000Z-unsig", true, nil)
	put("20261103T000000Z-forge", true, attacker)
	// Written over the agent's failed drill: the original is what counts.
	put("20261101T000000Z-real", true, attacker)

	out := f.run(t, 0, "drill", "report", "nightly", "--evidence-key", agent.Public().String())
	t.Logf("report:\n%s", out)
	if strings.Count(out, "SIGNATURE NOT VERIFIED") != 2 {
		t.Fatalf("want the two forged records marked, and only them:\n%s", out)
	}
	if !strings.Contains(out, "not signed") || !strings.Contains(out, "written over 1 time") || !strings.Contains(out, "FAILED") {
		t.Fatalf("report misses the unsigned record, the overwrite or the original failure:\n%s", out)
	}
}
