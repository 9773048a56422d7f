package agentd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentProbesRegionCopyKeys: between two MinIO servers, the agent
// copying a recovery region probes the copy keys of its configuration's
// stores entry on the destination with its writer probe, and records the
// verdict, signed with its key, in the primary repository, as it signs
// its writer probe and the region's copy status. With a MinIO user made
// from the copy role's document every forbidden action is denied and the
// posture control region.copy_keys_cannot_delete passes; with the root
// keys it fails, naming the destructive actions. A record rewritten
// unsigned by whoever can write the primary (a copy status claiming no
// lag, a probe claiming all denied) is not judged: unknown, when the
// report trusts the agent's key.
func TestAccAgentProbesRegionCopyKeys(t *testing.T) {
	env := testenv.RequireMinIO(t, 2)
	ctx := context.Background()
	locked := objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}
	src := env.MinIO[0].NewStore(t, "cprobe-primary", locked)
	dst := env.MinIO[1].NewStore(t, "cprobe-dr", locked)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	if _, err := src.Put(ctx, l.WALKey("00000001", "000000010000000000000001", "zst"), bytes.NewReader([]byte("wal")), objectstore.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	provider, _ := signature.Generate()
	doc := region.ConfigDoc{Name: "eu2", Cluster: l.Cluster, IntervalSeconds: 60, MaxLagSeconds: 600,
		Destination: region.Destination{Bucket: dst.Bucket(), Endpoint: env.MinIO[1].Endpoint, Store: "dr"}}
	if err := region.WriteConfig(ctx, src, l, doc, provider); err != nil {
		t.Fatal(err)
	}
	copyAK, copySK := accesstest.User(t, env.MinIO[1], dst.Bucket(), access.RoleCopy, dst.Bucket(), l)
	agentKey, _ := signature.Generate()
	keyFile := filepath.Join(t.TempDir(), "agent.key")
	if err := os.WriteFile(keyFile, []byte(agentKey.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	trust, _ := signature.NewTrust(provider.Public().String(), agentKey.Public().String())

	agent := func(ak, sk string) *Daemon {
		t.Helper()
		d, err := New(Config{Store: src, Agent: repo.AgentConfig{Bucket: src.Bucket(), Endpoint: env.MinIO[0].Endpoint, Prefix: l.Prefix, Cluster: l.Cluster,
			TrustedKeys: []string{provider.Public().String()}, SigningKeyFile: keyFile,
			Stores: map[string]repo.StoreEntry{"dr": {Endpoint: env.MinIO[1].Endpoint, PathStyle: true, AccessKey: ak, SecretKey: sk}}},
			Holder: "A", DSN: "host=/nonexistent", Logger: discardLogger(),
			Probe: func(context.Context) access.Report { return access.Report{} }})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	judge := func(trust signature.Trust, control string) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: src, Prefix: l.Prefix, Clusters: []string{l.Cluster}, Trust: trust})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := posture.Evaluate(o, posture.Params{Trust: trust}).Find(control, l.Cluster)
		if !ok {
			t.Fatalf("no %s finding", control)
		}
		return f
	}

	// The copy role's keys.
	d := agent(copyAK, copySK)
	d.probe(ctx)
	rec, err := access.ReadCopyProbeRecord(ctx, src, l, "eu2", trust)
	if err != nil || rec == nil {
		t.Fatalf("copy probe record: %v, %v", rec, err)
	}
	if rec.Signer != agentKey.Public().ID() || rec.Role != access.RoleCopy || rec.Destination != "s3://"+dst.Bucket() ||
		len(rec.Results) != len(access.ChecksFor(access.RoleCopy)) {
		t.Fatalf("copy probe record %+v (signature %v)", rec, rec.SignatureErr)
	}
	for _, r := range rec.Results {
		if r.Outcome != access.Denied || r.By != access.ByPolicy {
			t.Errorf("copy role keys: %s %s (%s) %s, want denied by policy", r.Check, r.Outcome, r.By, r.Detail)
		}
		if got := testutil.ToFloat64(d.m.RegionCopyForbiddenAllowed.WithLabelValues("eu2", string(r.Check))); got != 0 {
			t.Errorf("lifeboat_recovery_region_copy_forbidden_actions_allowed{action=%s} = %v, want 0", r.Check, got)
		}
	}
	if f := judge(trust, posture.ControlRegionCopyRole); f.Status != posture.Pass || !strings.Contains(f.Observed, "eu2: 7 of 7 denied") {
		t.Fatalf("copy role keys: %s %q, want pass", f.Status, f.Observed)
	}
	if w, err := access.ReadProbeRecord(ctx, src, l, trust); err != nil || w == nil || w.Signer != agentKey.Public().ID() {
		t.Fatalf("writer probe record not signed by the agent: %+v, %v", w, err)
	}
	// A copy pass: its status is signed too.
	if _, err := d.regionCopy(ctx, doc); err != nil {
		t.Fatal(err)
	}
	st, err := region.ReadStatusRecord(ctx, src, l, "eu2", trust)
	if err != nil || st == nil || st.Signer != agentKey.Public().ID() {
		t.Fatalf("copy status record not signed by the agent: %+v, %v", st, err)
	}
	if f := judge(trust, posture.ControlRegionLag); f.Status != posture.Pass {
		t.Fatalf("signed status: %s %q, want pass", f.Status, f.Observed)
	}

	// Both records rewritten unsigned, as any writer of jobs/ could.
	unsign := func(key string) {
		t.Helper()
		b, _ := objectstoretest.Read(t, src, key)
		if _, err := src.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	unsign(l.RegionCopyProbeKey("eu2"))
	unsign(l.RegionStatusKey("eu2"))
	if f := judge(trust, posture.ControlRegionCopyRole); f.Status != posture.Unknown || !strings.Contains(f.Observed, "not signed by a trusted key") {
		t.Fatalf("unsigned copy probe: %s %q, want unknown", f.Status, f.Observed)
	}
	if f := judge(trust, posture.ControlRegionLag); f.Status != posture.Unknown || !strings.Contains(f.Observed, "not signed by a trusted key") {
		t.Fatalf("unsigned status: %s %q, want unknown", f.Status, f.Observed)
	}
	if f := judge(signature.Trust{}, posture.ControlRegionCopyRole); f.Status != posture.Pass {
		t.Fatalf("unsigned copy probe, no key trusted: %s %q, want pass", f.Status, f.Observed)
	}

	// The root keys of the destination: they may delete the copy.
	root := agent(env.MinIO[1].AccessKey, env.MinIO[1].SecretKey)
	root.probe(ctx)
	for _, c := range []access.Check{access.CheckBypassGovernance, access.CheckDeleteObject, access.CheckWriteActivation} {
		if got := testutil.ToFloat64(root.m.RegionCopyForbiddenAllowed.WithLabelValues("eu2", string(c))); got != 1 {
			t.Errorf("root keys: lifeboat_recovery_region_copy_forbidden_actions_allowed{action=%s} = %v, want 1", c, got)
		}
	}
	f := judge(trust, posture.ControlRegionCopyRole)
	if f.Status != posture.Fail || !strings.Contains(f.Observed, "bypass_governance_retention") || !strings.Contains(f.Remedy, "can destroy") {
		t.Fatalf("root keys: %s %q %q, want fail", f.Status, f.Observed, f.Remedy)
	}
}
