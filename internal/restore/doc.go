// Package restore brings backups back: a cluster to a point in time in a new
// data directory (PlanCluster, RestoreCluster), and one tenant database to a
// point in time in a new database beside the live one, with the attachment
// objects it references as they were then (PlanTenant, RestoreTenant).
//
// A cluster restore first chooses the timeline to follow
// (recovery_target_timeline: the archive's newest, the backup's own, or a
// number), read from the archived .history files; then the newest complete
// base backup on that timeline's history that stopped at or before the
// target and has unbroken archived WAL along that history from its first
// segment up to the target (each segment from the timeline PostgreSQL reads
// it from, never a branch that forked off); it downloads the backup's parts in parallel
// (ranged reads), verifies each part's SHA-256 against the manifest, and
// streams them through the decompressor (chosen by the archive's name) into
// tar extraction, with no temporary file. PostgreSQL then replays WAL
// through `lifeboat wal-fetch` and promotes at the target.
//
// Safety rules, each with a test:
//   - The target data directory must not exist, be empty, or hold a failed
//     Lifeboat restore (which a retry clears), and the port must be free: a
//     restore never writes over anything else.
//   - No file the restore leaves holds a credential: the copy's
//     lifeboat-restore.json has no keys (restore_command gets them from the
//     server's environment), and a backup's own copy of Lifeboat's restore
//     files (a backup of a restored server) is never extracted.
//   - The plan names one timeline and the server is told that number, so
//     a timeline archived after planning cannot change what is replayed.
//   - The copy never archives: archive_mode is off in its
//     postgresql.auto.conf, so it cannot write into the source's repository.
//   - From the moment the directory is created until recovery succeeded it
//     holds LIFEBOAT_RESTORE_FAILED (with the reason once known): a restore
//     that failed, or was killed, never looks like a good copy, and its
//     server is stopped.
//   - Replay that stops before the WAL the plan counted on (a segment
//     deleted from the archive, say) is a failure, not an early promotion.
//   - RemoveCluster deletes only directories holding lifeboat-restore.json,
//     and DropTenant drops only databases whose comment marks them as a
//     Lifeboat restore: neither can remove a live source.
//   - A tenant database is built under a temporary name and renamed only
//     once complete; on failure it is dropped.
package restore
