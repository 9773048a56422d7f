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
package redisx
