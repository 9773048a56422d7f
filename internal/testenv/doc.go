// Package testenv starts the real services Lifeboat's acceptance tests and
// demo run against, on free loopback ports: PostgreSQL 15 (initdb as the
// postgres user), MinIO (one per "region", SSE-S3 enabled) and Redis.
//
// Tests use Main from TestMain, which starts what the package needs once per
// test binary and tears it down afterwards; child processes also die with the
// test binary (parent-death signal), so nothing leaks to the next binary. The
// demo uses the devenv command, which starts the same services detached.
//
// Binaries come from the tools cache that `make tools` fills
// (tools/scripts/install-tools.sh), PostgreSQL from /usr/lib/postgresql/15/bin.
package testenv
