package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// KindRegion is a regional activation drill: the activation groups of a
// recovery region restored in their order from the region's destination
// only, each tenant into a scratch database, the checks run on each, and
// the RTO each group achieved (from the drill's start to its last tenant
// checked) recorded against the group's target.
const KindRegion = "region"

// CheckGroupRTO is the per-group RTO check of a region drill.
const CheckGroupRTO = "group_rto"

// RegionSpec is what a region drill activates.
type RegionSpec struct {
	// Name is the recovery region's name (its destination bucket).
	Name string
	// Trust checks the region's document (the provider's signature).
	Trust signature.Trust
	// Open opens the region's destination and returns the agent
	// configuration restore_command reads it with; the drill reads
	// nothing else.
	Open func(ctx context.Context, doc region.ConfigDoc) (objectstore.Store, repo.AgentConfig, error)
}

// GroupResult is one activation group of a region drill.
type GroupResult struct {
	Name             string   `json:"name"`
	Tenants          []string `json:"tenants"`
	RTOSeconds       float64  `json:"rto_seconds"`
	RTOTargetSeconds float64  `json:"rto_target_seconds,omitempty"`
	RTOMet           bool     `json:"rto_met"`
	Passed           bool     `json:"passed"`
	Error            string   `json:"error,omitempty"`
}

// ErrNoRegion says a region drill names no recovery region, or the region
// has no activation groups.
var ErrNoRegion = errors.New("a region drill needs a recovery region with activation groups")

// OpenRegionFromConfig is RegionSpec.Open for an agent configuration: the
// destination is the agent's own repository when its bucket is the
// region's (an agent started in the region), else the configuration's
// store named by the document (its "stores" entry), with the document's
// endpoint and region where the entry leaves them empty.
func OpenRegionFromConfig(cfg repo.AgentConfig, client func(context.Context, objectstore.Config) (*objectstore.Client, error)) func(context.Context, region.ConfigDoc) (objectstore.Store, repo.AgentConfig, error) {
	return func(ctx context.Context, doc region.ConfigDoc) (objectstore.Store, repo.AgentConfig, error) {
		var sc objectstore.Config
		if cfg.Bucket == doc.Destination.Bucket && (doc.Destination.Endpoint == "" || cfg.Endpoint == doc.Destination.Endpoint) {
			sc = cfg.ObjectStore()
		} else {
			c, err := cfg.StoreConfig(doc.StoreName())
			if err != nil {
				return nil, repo.AgentConfig{}, fmt.Errorf("recovery region %s: destination credentials: %w (add it under \"stores\" in the agent configuration)", doc.Name, err)
			}
			sc = c
		}
		if sc.Endpoint == "" {
			sc.Endpoint = doc.Destination.Endpoint
		}
		if sc.Region == "" {
			sc.Region = doc.Destination.Region
		}
		c, err := client(ctx, sc)
		if err != nil {
			return nil, repo.AgentConfig{}, fmt.Errorf("recovery region %s: %w", doc.Name, err)
		}
		ac := cfg
		ac.Endpoint, ac.Region, ac.PathStyle, ac.SkipTLSVerify = sc.Endpoint, sc.Region, sc.PathStyle, sc.Insecure
		ac.AccessKey, ac.SecretKey, ac.Bucket = sc.AccessKey, sc.SecretKey, doc.Destination.Bucket
		return c.Store(doc.Destination.Bucket), ac, nil
	}
}

// runRegion activates the region's groups in order, filling ev. Each
// tenant is restored (to the latest point the region reaches) into a
// scratch database on spec.TargetDSN; all of them are dropped once the
// last group is measured. A group whose tenant fails is recorded failed,
// and the next groups still run: the evidence says which groups the
// region could bring up, and how fast.
func runRegion(ctx context.Context, store objectstore.Store, spec Spec, ev *Evidence) error {
	rs := spec.Region
	if rs.Name == "" || rs.Open == nil {
		return ErrNoRegion
	}
	doc, err := region.ReadConfig(ctx, store, spec.Layout, rs.Name, rs.Trust)
	if err != nil {
		return fmt.Errorf("recovery region %s: %w", rs.Name, err)
	}
	if len(doc.Activation) == 0 {
		return fmt.Errorf("recovery region %s: %w", rs.Name, ErrNoRegion)
	}
	dest, agentCfg, err := rs.Open(ctx, *doc)
	if err != nil {
		return err
	}
	ev.Source = fmt.Sprintf("recovery region %s (s3://%s/%s)", doc.Name, dest.Bucket(), spec.Layout.RootDir())
	var reqs []restore.Request
	// Every scratch database goes whatever happens, after the last group's
	// RTO is measured (dropping them is not part of any RTO).
	defer func() {
		for _, r := range reqs {
			_ = restore.Teardown(context.WithoutCancel(ctx), r)
		}
	}()
	var errs []string
	for _, g := range doc.Activation {
		gr := GroupResult{Name: g.Name, Tenants: g.Tenants, RTOTargetSeconds: g.RTOSeconds, Passed: true}
		for _, tenant := range g.Tenants {
			req := restore.Request{
				Kind: restore.KindTenant, Layout: spec.Layout, Database: tenant,
				NewDatabase: ScratchDatabase(tenant, ev.ID), TargetDSN: spec.TargetDSN, ScratchDir: spec.ScratchDir,
				BinDir: spec.BinDir, OSUser: spec.OSUser, AgentPath: spec.AgentPath, AgentConfig: agentCfg, Checks: spec.Checks,
				Audit: restore.AuditOptions{Signer: spec.Signer, FrontEnd: restore.FrontEndDrill,
					Actor: "drill " + spec.Schedule + " " + ev.ID + " group " + g.Name, Retention: spec.EvidenceRetention, Trust: spec.Trust},
			}
			reqs = append(reqs, req)
			out, err := restore.Restore(ctx, dest, req)
			if err != nil {
				gr.Passed = false
				msg := fmt.Sprintf("tenant %s: restore: %v", tenant, err)
				gr.Error = joinMsg(gr.Error, msg)
				errs = append(errs, "group "+g.Name+": "+msg)
				continue
			}
			if ev.RestoredToTime.IsZero() || out.RestoredToTime.Before(ev.RestoredToTime) {
				ev.RestoredToTime, ev.RestoredToLSN = out.RestoredToTime, out.RestoredToLSN
			}
			for _, c := range out.Checks {
				c.Name = tenant + ": " + c.Name
				ev.Checks = append(ev.Checks, c)
				gr.Passed = gr.Passed && c.Passed
			}
		}
		gr.RTOSeconds = time.Since(ev.Started).Seconds()
		gr.RTOMet = gr.Error == "" && (gr.RTOTargetSeconds == 0 || gr.RTOSeconds <= gr.RTOTargetSeconds)
		gr.Passed = gr.Passed && gr.RTOMet
		expected := "restored"
		if gr.RTOTargetSeconds > 0 {
			expected = "<= " + (time.Duration(gr.RTOTargetSeconds * float64(time.Second))).String()
		}
		observed := (time.Duration(gr.RTOSeconds * float64(time.Second))).Round(100 * time.Millisecond).String()
		if gr.Error != "" {
			observed = "not restored"
		}
		ev.Checks = append(ev.Checks, CheckResult{Name: "rto of group " + g.Name, Kind: CheckGroupRTO, Expected: expected,
			Observed: observed, Passed: gr.RTOMet, Detail: "tenants " + strings.Join(g.Tenants, ", ") + ", in activation order"})
		ev.Groups = append(ev.Groups, gr)
	}
	ev.RTOSeconds = time.Since(ev.Started).Seconds()
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
