// Package restore brings backups back: a cluster to a point in time in a new
// data directory (PlanCluster, RestoreCluster), and one tenant database to a
// point in time in a new database beside the live one, with the attachment
// objects it references as they were then (PlanTenant, RestoreTenant).
//
// A cluster restore chooses the newest complete base backup that stopped
// at or before the target and has unbroken archived WAL from its first
// segment up to the target; it downloads the backup's parts in parallel
// (ranged reads), verifies each part's SHA-256 against the manifest, and
// streams them through the decompressor (chosen by the archive's name) into
// tar extraction, with no temporary file. PostgreSQL then replays WAL
// through `lifeboat wal-fetch` and promotes at the target.
//
// Safety rules, each with a test:
//   - The target data directory must not exist or be empty, and the port
//     must be free: a restore never writes over anything.
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
