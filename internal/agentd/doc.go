// Package agentd is the engine of `lifeboat agent`, the daemon that runs
// beside a database and executes what the provider declared in the
// repository: the backup policy (<root>/policy.json: base backup, tenant
// dumps, then retention; and, with verify_schedule, the verification of the
// newest backup by content) and the drill schedules
// (<root>/drills/<name>/schedule.json), each on its cron schedule.
//
// It coordinates with other agents only through the repository:
//
//	<root>/leases/<job>/<generation>.json   who runs <job> now (Lease)
//	<root>/jobs/<job>/last.json             the last slot run, and how (Run)
//
// A job's slot is the time its schedule last fired. A job is due when its
// slot is newer than the slot of its last recorded run (or that run failed
// and the retry delay has passed). Before running, an agent takes the job's
// lease with a conditional put, reads last.json again (another agent may
// have finished the slot meanwhile), runs the job while renewing the lease,
// records the run, then releases the lease. An agent that dies stops
// renewing; once the lease expires another agent takes the next generation
// and redoes the slot. Because a backup's manifest is written last, a
// killed or cancelled backup never looks complete, and Prune removes its
// parts after a grace period.
//
// Safety rules, each with a test:
//   - at most one live lease per job: takeover writes generation n+1 with
//     If-None-Match, so of two agents that saw generation n expire exactly
//     one wins; nothing is ever deleted to take a lease, so a winner's
//     lease cannot be removed by a slower loser;
//   - a holder that cannot renew before its lease expires, or sees a newer
//     generation, cancels its job;
//   - a slot recorded in last.json is not run again by any agent;
//   - a job cancelled by shutdown records nothing, so the slot stays due.
//
// With Config.Probe, the daemon also proves at start and every
// ProbeInterval that its own keys are a writer's (access.Probe): any
// forbidden action they are allowed is 1 in
// lifeboat_writer_forbidden_actions_allowed{action}, and an error log.
//
// With a data directory it serves (WALAheadSettings), the daemon also
// pushes WAL ahead of archive_command (walahead.go, wal.Ahead): each
// segment PostgreSQL marks ready is pushed, oldest first, and recorded
// locally, and archive_command returns at once on that record.
//
// The daemon serves Prometheus metrics (see Metrics) and /healthz.
package agentd
