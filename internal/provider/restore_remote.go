package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// remote reports whether the cluster's agent performs this restore (and
// its destroy) rather than the machine running Terraform.
func (m *restoreModel) remote() bool {
	switch m.Executor.ValueString() {
	case "agent":
		return true
	case "local":
		return false
	}
	return !m.Agent.IsNull() && !m.Agent.IsUnknown() && m.Agent.ValueString() != ""
}

// remoteSpec is the restore as the request states it: the planned recovery
// point and timeline, the target on the agent's host, and the checks.
func (m *restoreModel) remoteSpec() *remote.RestoreSpec {
	target, _ := m.target()
	s := &remote.RestoreSpec{
		Kind: restore.Kind(m.Kind.ValueString()), PointInTime: target, BackupID: m.BackupID.ValueString(),
		TargetTimeline: m.TargetTimeline.ValueString(), BinDir: m.Target.BinDir.ValueString(),
	}
	if pt := m.point(); !pt.IsZero() {
		s.Point = &pt
	}
	if !m.RecoverySource.IsUnknown() {
		s.Source = m.RecoverySource.ValueString()
	}
	if !m.Timeline.IsUnknown() && !m.Timeline.IsNull() {
		s.TargetTimeline = fmt.Sprint(m.Timeline.ValueInt64())
	}
	if s.Kind == restore.KindCluster {
		s.DataDir, s.Port = m.Target.DataDirectory.ValueString(), int(m.Target.Port.ValueInt64())
	} else {
		s.Database, s.NewDatabase = m.Target.SourceDatabase.ValueString(), m.Target.Database.ValueString()
		if a := m.Attachments; a != nil && !a.Bucket.IsNull() {
			s.Attachments = &remote.AttachmentSpec{Bucket: a.Bucket.ValueString(), SourcePrefix: a.SourcePrefix.ValueString(), TargetPrefix: a.TargetPrefix.ValueString()}
		}
	}
	for _, c := range m.Checks {
		s.Checks = append(s.Checks, restore.Check{Name: c.Name.ValueString(), Kind: restore.CheckSQL, SQL: c.SQL.ValueString(), Expected: c.Expected.ValueString()})
	}
	return s
}

// runRemote submits req for the agent, waits for its result while
// streaming its progress into the log, and reports failures as
// diagnostics. It returns the stored request and its result (nil on
// failure).
func (r *restoreResource) runRemote(ctx context.Context, m *restoreModel, store objectstore.Store, req remote.Request, what string, diags *diag.Diagnostics) (*remote.Request, *remote.Result) {
	layout := m.layout()
	stored, reused, err := remote.Submit(ctx, store, layout, req, r.data.signer)
	if err != nil {
		diags.Append(errorDiag("Error Requesting "+what, fmt.Sprintf("writing the request for the agent into s3://%s/%s", store.Bucket(), layout.RequestsDir()), err))
		return nil, nil
	}
	key := layout.RequestKey(stored.ID)
	tflog.Info(ctx, "request written for the agent", map[string]any{"request": key, "agent": req.Agent, "reused": reused})
	claimTimeout, _ := time.ParseDuration(m.ClaimTimeout.ValueString())
	res, err := remote.Wait(ctx, store, layout, stored, remote.WaitOptions{ClaimTimeout: claimTimeout,
		OnProgress: func(p remote.Progress) {
			tflog.Info(ctx, "agent progress", map[string]any{"request": key, "host": p.Host, "holder": p.Holder, "attempt": p.Attempt,
				"phase": p.Phase, "detail": p.Detail, "downloaded_mb": p.DownloadedBytes / 1e6, "extracted_mb": p.ExtractedBytes / 1e6})
		}})
	var nc *remote.NotClaimedError
	var failed *remote.FailedError
	switch {
	case err == nil:
		return stored, res
	case errors.As(err, &nc):
		diags.AddAttributeError(path.Root("agent"), what+" Not Claimed By An Agent",
			fmt.Sprintf("%v.\n\nStart `lifeboat agent` on the host (its bootstrap file's host, or --host, must be %q), check that it reaches the "+
				"repository (data.lifeboat_agents lists the live agents), or raise claim_timeout.", err, req.Agent))
	case errors.As(err, &failed):
		diags.Append(errorDiag("Error "+what+" On The Agent", fmt.Sprintf("the agent executed request %s", key), err))
	default:
		diags.Append(errorDiag("Error Waiting For The Agent", fmt.Sprintf("waiting for request %s", key), err))
	}
	return stored, nil
}

// createRemote performs the restore through the agent and reads its
// outcome into state.
func (r *restoreResource) createRemote(ctx context.Context, plan *restoreModel, store objectstore.Store, resp *resource.CreateResponse) {
	what := "Restore"
	spec := plan.remoteSpec()
	password := ""
	if plan.CleanRoom.ValueBool() {
		// The password is made here and kept in state only; the request
		// (in the repository, read by the agent's host) carries its
		// SCRAM-SHA-256 verifier, which the agent sets as is.
		var err error
		if password, err = newSuperuserPassword(); err == nil {
			spec.SuperuserVerifier, err = restore.ScramVerifier(password)
		}
		if err != nil {
			resp.Diagnostics.AddError("Error Making The Clean-Room Password", err.Error())
			return
		}
		spec.CleanRoom, spec.NotAfter, spec.ListenAddresses = true, plan.notAfter(), plan.ListenAddresses.ValueString()
	}
	stored, res := r.runRemote(ctx, plan, store, remote.Request{Kind: remote.KindRestore, Agent: plan.Agent.ValueString(), Restore: spec}, what, &resp.Diagnostics)
	if res == nil || res.Restore == nil {
		if res != nil {
			resp.Diagnostics.AddError("Error Restoring On The Agent", fmt.Sprintf("The agent's result of request %s carries no restore outcome.", stored.ID))
		}
		return
	}
	out := res.Restore
	if out.AuditError != "" {
		resp.Diagnostics.AddWarning("Restore Audit Record Not Written",
			fmt.Sprintf("The agent's restore succeeded, and its start was recorded, but its finished audit record was not written: %s. "+
				"`lifeboat restore audit` shows this restore as still running.", out.AuditError))
	}
	// Done: the next plan of this restore chooses the newest backup again.
	if err := restore.ReleaseKept(ctx, store, r.request(plan, nil)); err != nil {
		tflog.Warn(ctx, "could not forget the kept recovery point", map[string]any{"error": err.Error()})
	}
	if err := restore.ReleaseKeptReview(ctx, store, r.request(plan, nil)); err != nil {
		tflog.Warn(ctx, "could not forget the kept compatibility review", map[string]any{"error": err.Error()})
	}
	if plan.CompatibilityReview.IsUnknown() {
		plan.CompatibilityReview = types.ObjectNull(reviewType.AttrTypes)
	}
	plan.Request = types.StringValue(plan.layout().RequestKey(stored.ID))
	plan.RecoverySource = types.StringValue(out.Source)
	if plan.Timeline.IsUnknown() {
		plan.Timeline = types.Int64Null()
		if out.Timeline != 0 {
			plan.Timeline = types.Int64Value(int64(out.Timeline))
		}
	}
	if plan.WALRange.IsUnknown() {
		plan.WALRange = optionalString(out.WALRange)
	}
	target, _ := plan.target()
	plan.DataLossWindow = lossWindow(target, out.Started, out.RestoredToTime)
	plan.RestoredToTime = types.StringValue(out.RestoredToTime.UTC().Format(time.RFC3339Nano))
	plan.RestoredToLSN = optionalString(out.RestoredToLSN)
	plan.MissingAttachments = types.ListNull(types.StringType)
	if plan.Kind.ValueString() == string(restore.KindCluster) {
		plan.ID = types.StringValue(out.DataDir)
	} else {
		plan.ID = plan.Target.Database
		missing := []attr.Value{}
		for _, m := range out.Missing {
			missing = append(missing, types.StringValue(m))
		}
		plan.MissingAttachments = types.ListValueMust(types.StringType, missing)
		if len(missing) > 0 {
			resp.Diagnostics.AddWarning("Attachments Do Not Resolve",
				fmt.Sprintf("%d attachment reference(s) of the restored database have no object as of the restore point (first: %s). See missing_attachments.",
					len(missing), out.Missing[0]))
		}
	}
	results := map[string]attr.Value{}
	for _, c := range out.Checks {
		results[c.Name] = types.StringValue(c.String())
	}
	plan.CheckResults = types.MapValueMust(types.StringType, results)
	plan.DurationSeconds = types.Int64Value((out.DurationMS + 500) / 1000)
	if plan.SuperuserPassword.IsUnknown() || plan.Superuser.IsUnknown() {
		plan.Superuser, plan.SuperuserPassword = types.StringNull(), types.StringNull()
		if out.Superuser != "" {
			plan.Superuser, plan.SuperuserPassword = types.StringValue(out.Superuser), types.StringValue(password)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// In state now: the same definition submitted again is new work.
	if err := remote.Ack(ctx, store, plan.layout(), stored.ID); err != nil {
		tflog.Warn(ctx, "could not acknowledge the request", map[string]any{"request": stored.ID, "error": err.Error()})
	}
	for _, c := range out.Checks {
		if !c.Passed {
			resp.Diagnostics.AddAttributeError(path.Root("check"), "Restore Check Failed", c.Failure()+".")
		}
	}
}

// deleteRemote asks the agent to remove the copy it made, through the
// repository the restore was requested in (the region's with
// source_region).
func (r *restoreResource) deleteRemote(ctx context.Context, state *restoreModel, resp *resource.DeleteResponse) {
	cfg, bucket := r.source(state)
	client := r.data.storeClientFor(ctx, cfg, &resp.Diagnostics)
	if client == nil {
		return
	}
	store := client.Store(bucket)
	stored, res := r.runRemote(ctx, state, store, remote.Request{Kind: remote.KindTeardown, Agent: state.Agent.ValueString(), Restore: state.remoteSpec()},
		"Restore Removal", &resp.Diagnostics)
	if res == nil {
		return
	}
	if err := remote.Ack(ctx, store, state.layout(), stored.ID); err != nil {
		tflog.Warn(ctx, "could not acknowledge the request", map[string]any{"request": stored.ID, "error": err.Error()})
	}
}

// newSuperuserPassword is a fresh random password for a clean-room copy's
// superuser (24 random bytes, URL-safe base64).
func newSuperuserPassword() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// remoteCopyGone reports whether the copy an agent made is known to be
// gone from its host: the live heartbeat of the host that executed the
// request, listed after the restore finished, no longer holds it. Anything
// not known (no heartbeat, an agent that does not list its copies, a
// repository that cannot be read) keeps the copy in state.
func (r *restoreResource) remoteCopyGone(ctx context.Context, m *restoreModel, diags *diag.Diagnostics) bool {
	k, ok := m.layout().Parse(m.Request.ValueString())
	if m.Request.IsNull() || !ok {
		return false
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return false
	}
	store, layout := client.Store(m.Repository.Bucket.ValueString()), m.layout()
	res, err := remote.ReadResult(ctx, store, layout, k.Request)
	if err != nil || res.Status != remote.StatusSucceeded {
		return false
	}
	agents, err := remote.ListAgents(ctx, store, layout)
	if err != nil {
		tflog.Warn(ctx, "could not read the agents' heartbeats: the restored copy stays in state", map[string]any{"error": err.Error()})
		return false
	}
	for _, h := range agents {
		if h.Host != res.Host || !h.HoldsRestores || !h.LiveAt(time.Now()) || !h.RestoresListed.After(res.Finished) {
			continue
		}
		for _, id := range h.Restores {
			if id == k.Request {
				return false
			}
		}
		diags.AddWarning("Restored Copy Gone From The Agent's Host",
			fmt.Sprintf("The agent on host %q (heartbeat of %s) no longer holds the copy request %s made (%s): it was removed outside Terraform. "+
				"The restore is planned again.", h.Host, h.LastSeen.Format(time.RFC3339), k.Request, m.ID.ValueString()))
		return true
	}
	return false
}
