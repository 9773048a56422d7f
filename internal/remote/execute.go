package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Host executes requests on the agent's host with the restore and drill
// engines, with the agent's own repository access, binary and PostgreSQL
// connection.
type Host struct {
	Store objectstore.Store
	// StoreFor opens another bucket (attachments) with the agent's
	// credentials; nil means Store.
	StoreFor func(bucket string) objectstore.Store
	Layout   repo.Layout
	// Agent is the agent's configuration (restore_command of a restored
	// server reads the repository with it); AgentPath its binary.
	Agent     repo.AgentConfig
	AgentPath string
	// DSN is the local server that receives tenant restores and tenant
	// drills.
	DSN func() string
	// Trust checks drill schedules and the policy that declares how long
	// audit records are locked; Signer signs drill evidence and audit
	// records.
	Trust  signature.Trust
	Signer *signature.Signer
	// Restorer, when set, is what restores and drills read the repository
	// (and attachments' history) with; results, audit records and
	// evidence are still written with Store.
	Restorer *agentd.Restorer
	// Backup takes a backup now as the signed policy in the repository
	// declares it (agentd.Daemon.BackupNow: under the backup job's lease,
	// recorded as the run of the current slot), and names what it
	// produced; nil: backup requests fail.
	Backup func(ctx context.Context, req agentd.BackupRequest) (string, error)
}

// ErrNoRestorer means a clean-room request reached an agent whose
// bootstrap file names no restorer: a clean room never reads with the
// writer's credentials.
var ErrNoRestorer = errors.New("a clean-room restore needs the agent's restorer credentials (restorer in its bootstrap file)")

// ErrUnknownKind is a request kind this agent does not execute.
var ErrUnknownKind = errors.New("unknown request kind")

// Exec is the Worker's ExecFunc.
func (h *Host) Exec(ctx context.Context, req *Request, report func(Progress)) (*Result, error) {
	switch req.Kind {
	case KindRestore, KindTeardown:
		if req.Restore == nil {
			return nil, fmt.Errorf("%s request without a restore", req.Kind)
		}
		rr, err := h.restoreRequest(req.Restore, report)
		// Audited as every restore: who ran it (this agent, signed with
		// its key) and on whose request.
		rr.Audit = restore.AuditOptions{Store: h.Store, Signer: h.Signer, FrontEnd: restore.FrontEndAgent, Actor: "request " + req.ID,
			Trust: h.Trust}
		if err != nil {
			return nil, err
		}
		if req.Kind == KindTeardown {
			report(Progress{Phase: "removing"})
			return &Result{}, restore.Teardown(ctx, rr)
		}
		return h.restore(ctx, rr)
	case KindDrill:
		return h.drill(ctx, req.Drill, report)
	case KindBackup:
		if h.Backup == nil {
			return nil, fmt.Errorf("%w %q: this agent takes no backups", ErrUnknownKind, req.Kind)
		}
		report(Progress{Phase: "backing up"})
		out, err := h.Backup(ctx, agentd.BackupRequest{ID: req.ID, Waiting: func(detail string) {
			report(Progress{Phase: "waiting for the running backup", Detail: detail})
		}})
		// The result names the backup this request took, never merely the
		// newest in the catalog (a scheduled one may follow it).
		res := &Result{Backup: out, BackupID: agentd.BackupIDOf(out)}
		if err != nil {
			return res, err
		}
		return res, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKind, req.Kind)
}

func (h *Host) storeFor(bucket string) objectstore.Store {
	if h.StoreFor == nil {
		return h.Store
	}
	return h.StoreFor(bucket)
}

func (h *Host) dsn() string {
	if h.DSN == nil {
		return ""
	}
	return h.DSN()
}

func (h *Host) restoreRequest(s *RestoreSpec, report func(Progress)) (restore.Request, error) {
	var point restore.Point
	if s.Point != nil {
		point = *s.Point
	}
	rr := restore.Request{
		Point: point,
		Kind:  s.Kind, Layout: h.Layout, Target: s.PointInTime, BackupID: s.BackupID, TargetTimeline: s.TargetTimeline,
		DataDir: s.DataDir, Port: s.Port, BinDir: s.BinDir, KeepRunning: s.Kind == restore.KindCluster,
		Database: s.Database, NewDatabase: s.NewDatabase, ScratchDir: s.ScratchDir,
		AgentPath: h.AgentPath, AgentConfig: h.Agent, Checks: s.Checks,
		Progress: func(p restore.Progress) {
			report(Progress{Phase: p.Phase, Detail: p.Detail, DownloadedBytes: p.Downloaded, ExtractedBytes: p.Extracted})
		},
	}
	if s.Source != "" {
		src, err := restore.ParseSource(s.Source)
		if err != nil {
			return rr, err
		}
		rr.Source = src
	}
	if s.Kind == restore.KindTenant {
		rr.TargetDSN = h.dsn()
		if a := s.Attachments; a != nil {
			rr.Attachments = &restore.AttachmentOptions{Store: h.storeFor(a.Bucket), SourcePrefix: a.SourcePrefix, TargetPrefix: a.TargetPrefix}
			if h.Restorer != nil && h.Restorer.StoreFor != nil {
				rr.Attachments.ReadStore = h.Restorer.StoreFor(a.Bucket)
			}
		}
	}
	if h.Restorer != nil {
		// restore_command of the restored server reads with the
		// restorer's keys too, never the writer's.
		rr.AgentConfig = h.Restorer.Agent
	}
	if s.CleanRoom {
		if h.Restorer == nil {
			return rr, ErrNoRestorer
		}
		rr.CleanRoom, rr.NotAfter, rr.ListenAddresses, rr.SuperuserVerifier = true, s.NotAfter, s.ListenAddresses, s.SuperuserVerifier
	}
	return rr, nil
}

func (h *Host) restore(ctx context.Context, rr restore.Request) (*Result, error) {
	read := h.Store
	if h.Restorer != nil {
		read = h.Restorer.Store
	}
	out, err := restore.Restore(ctx, read, rr)
	if err != nil {
		return nil, err
	}
	rs := &RestoreResult{Source: out.Source.String(), Started: out.Started, RestoredToTime: out.RestoredToTime, RestoredToLSN: out.RestoredToLSN,
		DurationMS: out.Duration.Milliseconds(), DataDir: out.DataDir, Database: out.Database, Checks: out.Checks, Superuser: out.Superuser}
	if out.Plan != nil {
		rs.Timeline = out.Plan.Timeline
		rs.WALRange = (&restore.RecoveryPlan{Kind: out.Kind, Source: out.Source, Cluster: out.Plan}).WALRange()
	}
	if out.Attachments != nil {
		rs.Missing = out.Attachments.Missing
	}
	rs.AuditKey = out.AuditKey
	if out.AuditError != nil {
		rs.AuditError = out.AuditError.Error()
	}
	return &Result{Restore: rs}, nil
}

func (h *Host) drill(ctx context.Context, name string, report func(Progress)) (*Result, error) {
	doc, err := drill.ReadSchedule(ctx, h.Store, h.Layout, name, h.Trust)
	if err != nil {
		return nil, err
	}
	report(Progress{Phase: "drilling", Detail: doc.Kind})
	spec := doc.Spec(h.storeFor, h.Layout, h.Agent, h.AgentPath, h.dsn())
	spec.Signer, spec.Trust = h.Signer, h.Trust
	h.Restorer.ApplyDrill(&spec)
	spec.Redis.Trust, spec.Region.Trust = h.Trust, h.Trust
	spec.Region.Open = drill.OpenRegionFromConfig(h.Agent, objectstore.NewClient)
	ev, err := drill.Run(ctx, h.Store, spec)
	if err != nil {
		return nil, fmt.Errorf("drill %s: %w", name, err)
	}
	passed := ev.Passed
	return &Result{Evidence: ev.Key, Passed: &passed}, nil
}

// Present reports whether the copy a restore made on this host still
// exists: its data directory still holds a Lifeboat restore that did not
// fail, or its database is on the agent's server.
func (h *Host) Present(ctx context.Context, r *RestoreResult) (bool, error) {
	switch {
	case r.DataDir != "":
		if _, err := os.Stat(filepath.Join(r.DataDir, "LIFEBOAT_RESTORE_FAILED")); err == nil {
			return false, nil
		}
		return restore.IsRestore(r.DataDir), nil
	case r.Database != "":
		if h.dsn() == "" {
			return true, nil // no server to ask: assume it is there
		}
		return pg.DatabaseExists(ctx, h.dsn(), r.Database)
	}
	return true, nil
}
