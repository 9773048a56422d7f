package agentd

import "context"

// drillJobs lists the drill schedules of the cluster as jobs.
// TODO(drills): wire internal/drill once it lands.
func (d *Daemon) drillJobs(ctx context.Context) ([]*job, error) { return nil, nil }
