package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgent_backupRequestTakenOver: two real agents of the cluster and
// a brand-new policy (a yearly slot that began before it: neither agent
// starts a scheduled backup). A "backup now" request is claimed by one of
// them, whose throttled backup runs longer than the claim's lease (2 s):
// it keeps the claim while alive. Killed mid-backup (SIGKILL: no clean-up),
// its claim and its backup job lease expire; the other agent takes the
// request over and takes the one complete backup, which the result names
// (attempt 2) and the backup job's record serves the slot with.
func TestAccAgent_backupRequestTakenOver(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-bnow")
	ctx := context.Background()
	l := f.cfg.Layout()
	pgbench(t, env.Postgres, "-i", "-s", "3", "-q")
	if err := repo.WritePolicy(ctx, f.store, l, repo.Policy{Cluster: f.cfg.Cluster, Schedule: "0 3 1 1 *"}, nil); err != nil {
		t.Fatal(err)
	}
	agents := map[string]*agentProc{"A": startAgent(t, f, "A", slowBackup...), "B": startAgent(t, f, "B", slowBackup...)}
	req, _, err := remote.Submit(ctx, f.store, l, remote.Request{Kind: remote.KindBackup}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first *remote.Progress
	waitFor(t, 60*time.Second, "an agent backing up for the request", func() bool {
		p, err := remote.ReadProgress(ctx, f.store, l, req.ID)
		if err == nil && p.Phase == "backing up" {
			first = p
		}
		return first != nil
	})
	claimed := time.Now()
	killed := waitParts(t, f, agents[first.Holder])
	// Alive, the holder keeps its claim past the claim's lease.
	time.Sleep(time.Until(claimed.Add(3 * time.Second)))
	if claim := newestLease(t, f, l.RequestLeaseJob(req.ID)); claim.Holder != first.Holder || claim.Generation != 1 || claim.Released {
		t.Fatalf("claim %+v while %s backs up: want its first claim, live", claim, first.Holder)
	}
	if _, err := f.store.Head(ctx, l.BackupManifestKey(killed)); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("backup %s complete before the kill (%v): the backup was too fast to test a takeover", killed, err)
	}
	if code := agents[first.Holder].stop(t, syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("SIGKILLed agent exited %d", code)
	}
	other := "A"
	if first.Holder == "A" {
		other = "B"
	}

	res, err := remote.Wait(ctx, f.store, l, req, remote.WaitOptions{ClaimTimeout: 60 * time.Second, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Holder != other || res.Attempt != 2 || res.BackupID == "" || res.BackupID == killed {
		t.Fatalf("result %+v: want %s's takeover (attempt 2) naming its own backup", res, other)
	}
	c := loadCatalog(t, f)
	if len(c.Physical) != 1 || c.Physical[0].ID != res.BackupID {
		t.Fatalf("complete backups %d (newest %v), want only the request's %s: no scheduled backup, no second one", len(c.Physical), c.Physical, res.BackupID)
	}
	if len(c.Incomplete) != 1 || c.Incomplete[0].ID != killed {
		t.Fatalf("incomplete backups %+v, want only the killed %s", c.Incomplete, killed)
	}
	run, err := agentd.ReadRun(ctx, f.store, l, agentd.BackupJob)
	if err != nil || run == nil || run.Request != req.ID || run.Holder != other || agentd.BackupIDOf(run.Output) != res.BackupID {
		t.Fatalf("backup job record %+v (%v): want the request's run by %s", run, err, other)
	}
	if code := agents[other].stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent %s exited %d:\n%s", other, code, agents[other].out.String())
	}
}
