#!/usr/bin/env bash
# bench-backup.sh: a full base backup of the same pgbench database, in the
# same run, by
#   1. lifeboat backup        -> MinIO over TLS (server-side zstd, 2 workers)
#   2. pgbackrest backup      -> MinIO over TLS (compress-type=zst, process-max=2)
#   3. pg_basebackup          -> local disk (-Ft --compress=server-zstd:workers=2 -X none)
# reporting MB/s (database bytes PostgreSQL sent / wall time), CPU seconds of
# the tool's processes, CPU seconds of the server's backend (walsender, where
# server-side compression runs), and the tool's peak RSS.
#
# With RESTORE=1 it then restores both backups into new directories, by
#   4. lifeboat restore --no-start  <- MinIO over TLS (parallel ranged GETs,
#      sha256 per part, zstd decoded on 4 goroutines, streamed into tar)
#   5. pgbackrest restore           <- MinIO over TLS (process-max=2)
#   6. lifeboat restore to latest, PostgreSQL started, WAL replayed, promoted
# reporting MB/s as database bytes / wall time.
#
# Usage: [RESTORE=1] tools/scripts/bench-backup.sh [pgbench scale, default 100 (~1.5 GB)]
# Needs: root, PostgreSQL 15 (Debian), pgbackrest, openssl, curl, MinIO in
# ~/.cache/lifeboat-tools/bin. Runs differ by up to 70% on noisy machines:
# compare tools within one run only. KEEP=1 keeps the work directory.
set -euo pipefail

SCALE=${1:-100}
BENCH_NAME=bench-backup
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

# --- PostgreSQL 15 with a pgbench database ----------------------------------
# pgBackRest refuses to back up without archiving; nothing reads this WAL.
start_pg /bin/true 8GB
log "pgbench -i -s $SCALE, then random filler (compresses ~5x, not ~22x)"
"$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
"${PSQL[@]}" -c "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)" postgres
"${PSQL[@]}" -c "VACUUM FULL pgbench_accounts" postgres
"${PSQL[@]}" -c "CHECKPOINT" postgres
DBSIZE=$("${PSQL[@]}" -c "SELECT sum(pg_database_size(oid)) FROM pg_database" postgres)
log "databases: $((DBSIZE / 1000000)) MB"
POSTMASTER=$(head -1 "$W/pg/data/postmaster.pid")

# children CPU of the postmaster (exited backends, e.g. the walsender), in seconds
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($16 + $17) / hz}' "/proc/$POSTMASTER/stat"; }

# --- tool configurations ----------------------------------------------------
cat >"$W/lifeboat.json" <<JSON
{"endpoint":"https://127.0.0.1:$S3PORT","path_style":true,"skip_tls_verify":true,
 "access_key":"$AK","secret_key":"$SK","bucket":"bench","prefix":"lifeboat","cluster":"bench","compression":"zstd"}
JSON
chmod 600 "$W/lifeboat.json"
cat >"$W/pgbackrest.conf" <<CONF
[global]
repo1-type=s3
repo1-path=/pgbackrest
repo1-s3-bucket=bench
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$S3PORT
repo1-s3-region=us-east-1
repo1-s3-key=$AK
repo1-s3-key-secret=$SK
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
repo1-retention-full=9
compress-type=zst
process-max=2
start-fast=y
archive-check=n
log-level-console=warn
log-level-file=off
log-path=$W/pgbr-log
lock-path=$W/pgbr-lock

[bench]
pg1-path=$W/pg/data
pg1-port=$PGPORT
pg1-socket-path=$W/pg
pg1-user=postgres
CONF
pgbackrest --config="$W/pgbackrest.conf" --stanza=bench stanza-create >/dev/null

# measure NAME CMD...: wall seconds, tool CPU seconds, server CPU seconds, peak RSS MB
RESULTS=()
measure() {
	local name=$1; shift
	log "running $name"
	local s0 t0 t1 s1
	s0=$(server_cpu); t0=$(now)
	/usr/bin/time -v -o "$W/time-$name" "$@" >"$W/out-$name" 2>&1 || { cat "$W/out-$name" >&2; exit 1; }
	t1=$(now); s1=$(server_cpu)
	local wall cpu rss scpu
	wall=$(echo "$t1 - $t0" | bc -l)
	cpu=$(awk -F: '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$W/time-$name")
	rss=$(awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$W/time-$name")
	scpu=$(echo "$s1 - $s0" | bc -l)
	RESULTS+=("$(printf '%-34s %8.1f s %8.0f MB/s %8s s %8.1f s %8s MB' "$name" "$wall" "$(echo "$DBSIZE / 1000000 / $wall" | bc -l)" "$cpu" "$scpu" "$rss")")
}

DSN="host=$W/pg port=$PGPORT user=postgres dbname=postgres"
measure "lifeboat backup (MinIO TLS)" "$W/lifeboat" backup --config "$W/lifeboat.json" --pg-dsn "$DSN" --workers 2 --level 1
grep "^backup " "$W/out-lifeboat backup (MinIO TLS)" >&2 || true
if [ -n "${RESTORE:-}" ]; then
	# The backup's WAL, pushed as archive_command would have (this bench
	# archives to /bin/true), so the restore has what it needs; now,
	# before the next checkpoint recycles them.
	read -r WALSTART WALSTOP < <(sed -n 's/.*WAL \([0-9A-F]\{24\}\)\.\.\([0-9A-F]\{24\}\).*/\1 \2/p' "$W/out-lifeboat backup (MinIO TLS)")
	for f in $(ls "$W/pg/data/pg_wal" | grep -E '^[0-9A-F]{24}$'); do
		if [[ "$f" > "$WALSTART" || "$f" == "$WALSTART" ]] && [[ "$f" < "$WALSTOP" || "$f" == "$WALSTOP" ]]; then
			PGDATA="$W/pg/data" "$W/lifeboat" wal-push --config "$W/lifeboat.json" "$W/pg/data/pg_wal/$f" >/dev/null
		fi
	done
fi
measure "pgbackrest backup (MinIO TLS)" pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --type=full backup
mkdir -p "$W/pgbb"; chown postgres: "$W/pgbb"
measure "pg_basebackup server-zstd (disk)" "$PGBIN/pg_basebackup" -h "$W/pg" -p "$PGPORT" -U postgres -D "$W/pgbb/b" \
	-Ft -X none --checkpoint=fast --compress=server-zstd:workers=2
if [ -n "${RESTORE:-}" ]; then
	sync
	measure "lifeboat restore --no-start" "$W/lifeboat" restore --config "$W/lifeboat.json" --bin-dir "$PGBIN" \
		--data-dir "$W/r-lifeboat" --port "$(freeport)" --no-start --parallel 4
	grep "^laid out" "$W/out-lifeboat restore --no-start" >&2 || true
	rm -rf "$W/r-lifeboat"; sync
	mkdir -p "$W/r-pgbackrest"; chmod 700 "$W/r-pgbackrest"; chown postgres: "$W/r-pgbackrest"
	measure "pgbackrest restore" pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --pg1-path="$W/r-pgbackrest" restore
	rm -rf "$W/r-pgbackrest"; sync
	measure "lifeboat restore + recovery" "$W/lifeboat" restore --config "$W/lifeboat.json" --bin-dir "$PGBIN" \
		--data-dir "$W/r-lifeboat2" --port "$(freeport)" --parallel 4
	grep "^restored" "$W/out-lifeboat restore + recovery" >&2 || true
	rm -rf "$W/r-lifeboat2"
fi

LBSTORED=$(du -sb "$W/minio/bench/lifeboat" 2>/dev/null | cut -f1 || echo 0)
PGBBSIZE=$(du -sb "$W/pgbb/b" | cut -f1)

echo
echo "base backup (and with RESTORE=1, restore) of $((DBSIZE / 1000000)) MB (pgbench scale $SCALE, random filler), $(nproc) cores"
printf '%-34s %10s %13s %10s %10s %11s\n' "tool" "wall" "throughput" "tool CPU" "server CPU" "peak RSS"
for r in "${RESULTS[@]}"; do echo "$r"; done
echo "stored: lifeboat $((LBSTORED / 1000000)) MB (MinIO data dir), pg_basebackup $((PGBBSIZE / 1000000)) MB"
