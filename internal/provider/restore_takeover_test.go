package provider

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRemoteRestore_agentKilledMidRestore: the agent executing a
// cluster restore is killed (SIGKILL: no clean-up, no result). Nothing
// reports the restore done while no agent holds it; once its claim expires
// another agent of the host takes the request over, restores into the
// directory the dead one left, and records the result as the second
// attempt.
func TestAccRemoteRestore_agentKilledMidRestore(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	store := testAccClient(t).Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	first := startTestAgent(t, f.agent, f.bucket, "db-eu-1", "agent-first", env.Postgres.DSN("postgres"))
	waitLive(t, store, "db-eu-1")
	port, _ := testenv.FreePort()
	dataDir := filepath.Join(f.scratch, "takeover")
	req, _, err := remote.Submit(ctx, store, layout, remote.Request{Kind: remote.KindRestore, Agent: "db-eu-1",
		Restore: &remote.RestoreSpec{Kind: restore.KindCluster, DataDir: dataDir, Port: port}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Kill the first agent once it is downloading into the directory: a
	// partly extracted data directory is left behind.
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := remote.ReadProgress(ctx, store, layout, req.ID)
		if err == nil && p.Holder == "agent-first" && p.Phase != "claimed" && p.Phase != "planning" {
			first.Kill()
			t.Logf("killed agent-first at phase %q (%d bytes extracted)", p.Phase, p.ExtractedBytes)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first agent never reported progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := remote.ReadResult(ctx, store, layout, req.ID); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("a result exists after the executing agent was killed: %v", err)
	}
	// Its claim lapses (2s with --lease-renew 1s); meanwhile nothing is done.
	time.Sleep(3 * time.Second)
	if _, err := remote.ReadResult(ctx, store, layout, req.ID); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("a result exists with no agent alive: %v", err)
	}
	startTestAgent(t, f.agent, f.bucket, "db-eu-1", "agent-second", env.Postgres.DSN("postgres"))
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := remote.Wait(wctx, store, layout, req, remote.WaitOptions{ClaimTimeout: time.Minute, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Holder != "agent-second" || res.Attempt != 2 || res.Restore == nil || res.Restore.DataDir != dataDir {
		t.Fatalf("result %+v: want agent-second's restore, the second claim", res)
	}
	if got := restore.RunningPort(dataDir); got != port {
		t.Fatalf("restored server on port %d after the takeover, want %d", got, port)
	}
	// And removed again, by request.
	td, _, err := remote.Submit(ctx, store, layout, remote.Request{Kind: remote.KindTeardown, Agent: "db-eu-1",
		Restore: &remote.RestoreSpec{Kind: restore.KindCluster, DataDir: dataDir, Port: port}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Wait(wctx, store, layout, td, remote.WaitOptions{ClaimTimeout: time.Minute, Poll: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if restore.IsRestore(dataDir) {
		t.Fatal("the restored directory is still there after the teardown request")
	}
}
