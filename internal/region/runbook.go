package region

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// ClusterPoint is what the recovery region can restore of one cluster.
type ClusterPoint struct {
	Cluster string
	// BackupID is the base backup a restore to the latest point starts
	// from, and Latest the newest point its WAL in the region reaches;
	// both empty/zero with Err set when the region cannot restore it.
	BackupID string
	Latest   time.Time
	Err      error
}

// TenantStep is one tenant restore of an activation group.
type TenantStep struct {
	Tenant  string
	Cluster string
	// Point is the cluster's: a tenant restored to the latest point is
	// cut from a PITR of its cluster.
	Point *ClusterPoint
}

// GroupStep is one activation group, in order.
type GroupStep struct {
	Group Group
	Steps []TenantStep
	// ExpectedLoss is the largest data loss of its tenants if the region
	// were activated at the plan's time: that time less the point each
	// tenant can be restored to.
	ExpectedLoss time.Duration
	// Unrestorable names tenants the region has no recovery point for.
	Unrestorable []string
}

// ActivationPlan is the regional failover plan: each cluster's recovery
// point in the region, then the groups in activation order.
type ActivationPlan struct {
	Region      string
	Destination Destination
	Prefix      string
	At          time.Time
	Clusters    []ClusterPoint
	Groups      []GroupStep
}

// PlanActivation reads only the destination (the primary may be gone):
// for each cluster the newest point a restore reaches from what the region
// holds, then each group's tenant restores. tenantCluster names the
// cluster of each tenant (the first cluster when a tenant is unknown).
func PlanActivation(ctx context.Context, dest objectstore.Store, doc ConfigDoc, prefix string, clusters []string,
	tenantCluster map[string]string, now time.Time) (*ActivationPlan, error) {
	p := &ActivationPlan{Region: doc.Name, Destination: doc.Destination, Prefix: prefix, At: now.UTC()}
	points := map[string]*ClusterPoint{}
	for _, c := range clusters {
		cp := ClusterPoint{Cluster: c}
		plan, err := restore.PlanCluster(ctx, dest, restore.ClusterOptions{Layout: repo.Layout{Prefix: prefix, Cluster: c}})
		switch {
		case errors.Is(err, objectstore.ErrUnreachable), errors.Is(err, objectstore.ErrAccessDenied), errors.Is(err, objectstore.ErrBucketNotFound):
			return nil, fmt.Errorf("reading the recovery region %s: %w", dest.Bucket(), err)
		case err != nil:
			cp.Err = err
		default:
			cp.BackupID, cp.Latest = plan.BackupID, plan.Latest
		}
		p.Clusters = append(p.Clusters, cp)
	}
	for i := range p.Clusters {
		points[p.Clusters[i].Cluster] = &p.Clusters[i]
	}
	for _, g := range doc.Activation {
		gs := GroupStep{Group: g}
		for _, t := range g.Tenants {
			c := tenantCluster[t]
			if c == "" && len(clusters) > 0 {
				c = clusters[0]
			}
			pt := points[c]
			gs.Steps = append(gs.Steps, TenantStep{Tenant: t, Cluster: c, Point: pt})
			if pt == nil || pt.Err != nil {
				gs.Unrestorable = append(gs.Unrestorable, t)
				continue
			}
			if loss := now.Sub(pt.Latest); loss > gs.ExpectedLoss {
				gs.ExpectedLoss = loss
			}
		}
		p.Groups = append(p.Groups, gs)
	}
	return p, nil
}

// Markdown is the runbook: what to point at the region, then every
// restore in activation order with its recovery point and expected data
// loss.
func (p *ActivationPlan) Markdown() string {
	var b strings.Builder
	dst := p.Destination
	fmt.Fprintf(&b, "# Regional activation: %s\n\n", p.Region)
	fmt.Fprintf(&b, "Planned at %s from the recovery region only (bucket `%s`", p.At.Format(time.RFC3339), dst.Bucket)
	if dst.Endpoint != "" {
		fmt.Fprintf(&b, ", endpoint `%s`", dst.Endpoint)
	}
	if dst.Region != "" {
		fmt.Fprintf(&b, ", region `%s`", dst.Region)
	}
	b.WriteString("); the primary object store is not needed.\n\n")
	b.WriteString("Every restore below reads the recovery region: set `source_region` on `lifeboat_restore` " +
		"(or run `lifeboat restore` with an agent configuration whose store is the region).\n\n")
	b.WriteString("## Recovery points in the region\n\n| Cluster | Base backup | Latest point | Expected data loss |\n|---|---|---|---|\n")
	for _, c := range p.Clusters {
		if c.Err != nil {
			fmt.Fprintf(&b, "| %s | none | not restorable: %s | everything since the last copy |\n", c.Cluster, oneLine(c.Err))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Cluster, c.BackupID, c.Latest.UTC().Format(time.RFC3339), lossText(p.At.Sub(c.Latest)))
	}
	b.WriteString("\n## Activation order\n")
	for i, g := range p.Groups {
		fmt.Fprintf(&b, "\n### %d. %s", i+1, g.Group.Name)
		if g.Group.RTOSeconds > 0 {
			fmt.Fprintf(&b, " (RTO %s)", time.Duration(g.Group.RTOSeconds*float64(time.Second)))
		}
		fmt.Fprintf(&b, "\n\nExpected data loss: %s.\n\n", lossText(g.ExpectedLoss))
		for _, s := range g.Steps {
			if s.Point == nil || s.Point.Err != nil {
				fmt.Fprintf(&b, "- tenant `%s` (cluster `%s`): **no recovery point in the region**\n", s.Tenant, s.Cluster)
				continue
			}
			fmt.Fprintf(&b, "- restore tenant `%s` of cluster `%s` to latest (%s): base backup %s and WAL from the region\n",
				s.Tenant, s.Cluster, s.Point.Latest.UTC().Format(time.RFC3339), s.Point.BackupID)
		}
	}
	return b.String()
}

func lossText(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return "about " + d.Round(time.Second).String()
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// LatestBackup is the newest complete base backup of cluster in the region
// (nil when none): what `lifeboat region status` and refresh report.
func LatestBackup(ctx context.Context, dest objectstore.Store, l repo.Layout) (string, time.Time, error) {
	c, err := catalog.LoadPhysical(ctx, dest, l)
	if err != nil {
		return "", time.Time{}, err
	}
	if len(c.Physical) == 0 {
		return "", time.Time{}, nil
	}
	m := c.Physical[len(c.Physical)-1]
	return m.ID, m.StopTime, nil
}
