// Package redisx converges one Redis instance's persistence settings to the
// workload class it serves, and reads back what the server really does.
//
// # Workload classes
//
// A class says what losing the instance's data costs, and so whether it is
// rebuilt or restored after a failure (Decision):
//
//   - cache: derived data that the application can recompute. Persistence is
//     off (no RDB schedule, no AOF): writing it to disk costs latency and
//     disk for data nobody restores. Decision "rebuild". Any eviction policy
//     fits (default allkeys-lru: under memory pressure the coldest entries
//     go, which is what a cache is for).
//   - session: HTTP sessions and similar short-lived state whose loss logs
//     users out. RDB on Redis' standard schedule plus AOF with
//     appendfsync everysec and an RDB preamble (at most about a second of
//     writes lost, fast reload). Decision "restore". Eviction only of keys
//     with a TTL (default volatile-lru), never allkeys-*: that would evict
//     keys the application never meant to expire.
//   - queue: jobs and workflow coordination, where a lost entry is lost work.
//     AOF everysec, or always when declared (every write fsynced before it
//     is acknowledged), plus RDB. Decision "restore". maxmemory-policy must
//     be noeviction: an evicted job is silently dropped work, while a full
//     Redis refuses writes loudly.
//
// # Safety rules (each enforced in code and tested)
//
//  1. A queue never runs with an evicting maxmemory-policy: Desired refuses
//     it (ErrEvictingQueue) before anything is sent to the server.
//  2. A cache is never given persistence overrides (a save schedule or
//     appendfsync): they would contradict the rebuild decision
//     (ErrCacheOverride).
//  3. Every change is persisted with CONFIG REWRITE right after CONFIG SET.
//     When the server runs without a config file, or the file is not
//     writable, Apply returns a *RewriteError (wrapping ErrNoConfigFile in
//     the first case) naming the file: the settings are live but a restart
//     would silently undo them, which must not pass as converged.
//  4. All settings are set in one CONFIG SET, which Redis applies
//     atomically: a rejected value leaves the server as it was, never half
//     converged.
//  5. A failing BGSAVE or AOF write is reported (Persistence.Problems), never
//     hidden: with stop-writes-on-bgsave-error Redis refuses writes until a
//     save succeeds again.
//  6. A snapshot exists only once its manifest is written, last, and never
//     over another (Snapshot); the RDB object is put IfAbsent too. A
//     snapshot is taken only after a BGSAVE asked for by this call has
//     completed (rdb_saves moved past its value before the request), so it
//     holds every write acknowledged before the call.
//  7. A restore writes dump.rdb only after the downloaded bytes matched
//     the manifest's size and sha256 (RestoreSnapshot); a mismatch leaves
//     no dump.rdb for Redis to load.
//
// # Snapshots
//
// Snapshot runs on the Redis host (it reads the RDB file from the server's
// dir) and stores it compressed under repo.Layout.RedisSnapshotKey, with a
// SnapshotManifest beside it. RestoreSnapshot writes a chosen (or the
// newest) snapshot as dump.rdb into the working directory of a new
// redis-server, which loads it at start.
package redisx
