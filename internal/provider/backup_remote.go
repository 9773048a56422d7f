package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
)

// backupOnAgent takes the backup of backup_on_create through a "backup
// now" request when the agent executor applies: executor = "agent", or
// unset with an agent named or a live agent of the cluster. It reports
// whether it did (false: the caller takes the backup here) and the base
// backup the request's result names (the one the request took, not the
// catalog's newest); a failure is a diagnostic.
func (r *backupPolicyResource) backupOnAgent(ctx context.Context, store objectstore.Store, m *backupPolicyModel, diags *diag.Diagnostics) (backupID string, done bool) {
	layout := m.layout()
	switch m.Executor.ValueString() {
	case "local":
		return "", false
	case "agent":
	default:
		if m.Agent.ValueString() == "" {
			live, err := remote.LiveAgents(ctx, store, layout, time.Now())
			if err != nil {
				tflog.Warn(ctx, "could not list the cluster's agents: taking the first backup here", map[string]any{"error": err.Error()})
				return "", false
			}
			if len(live) == 0 {
				return "", false
			}
			tflog.Info(ctx, "a live agent serves the cluster: it takes the first backup", map[string]any{"host": live[0].Host})
		}
	}
	req, reused, err := remote.Submit(ctx, store, layout, remote.Request{Kind: remote.KindBackup, Agent: m.Agent.ValueString()}, r.data.signer)
	if err != nil {
		diags.Append(errorDiag("Error Requesting Backup", fmt.Sprintf("writing the backup request for the agent into s3://%s/%s", store.Bucket(), layout.RequestsDir()), err))
		return "", true
	}
	key := layout.RequestKey(req.ID)
	tflog.Info(ctx, "backup requested from the agent", map[string]any{"request": key, "agent": req.Agent, "reused": reused})
	claimTimeout, _ := time.ParseDuration(m.ClaimTimeout.ValueString()) // validated; null is the default
	res, err := remote.Wait(ctx, store, layout, req, remote.WaitOptions{ClaimTimeout: claimTimeout, OnProgress: func(p remote.Progress) {
		tflog.Info(ctx, "agent progress", map[string]any{"request": key, "host": p.Host, "holder": p.Holder, "phase": p.Phase, "detail": p.Detail})
	}})
	var nc *remote.NotClaimedError
	switch {
	case errors.As(err, &nc):
		diags.AddAttributeError(path.Root("agent"), "Backup Not Claimed By An Agent",
			fmt.Sprintf("%v.\n\nStart `lifeboat agent` on the database host (its bootstrap file's host, or --host, must be %q when agent is set), "+
				"check that it reaches the repository (data.lifeboat_agents lists the live agents), raise claim_timeout, or set executor = \"local\".", err, req.Agent))
		return "", true
	case err != nil:
		diags.Append(errorDiag("Error Taking First Base Backup On The Agent", fmt.Sprintf("the agent executed request %s (backup_on_create = true)", key), err))
		return "", true
	}
	tflog.Info(ctx, "backup taken by the agent", map[string]any{"request": key, "host": res.Host, "holder": res.Holder, "output": res.Backup,
		"backup_id": res.BackupID})
	if err := remote.Ack(ctx, store, layout, req.ID); err != nil {
		tflog.Warn(ctx, "could not acknowledge the request", map[string]any{"request": key, "error": err.Error()})
	}
	return res.BackupID, true
}
