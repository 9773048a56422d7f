#!/usr/bin/env bash
# bench-backup.sh: a full base backup of the same pgbench database, in the
# same run, by
#   1. lifeboat backup        -> MinIO over TLS (server-side zstd, 2 workers)
#   2. pgbackrest backup      -> MinIO over TLS (compress-type=zst, process-max=2)
#   3. pg_basebackup          -> local disk (-Ft --compress=server-zstd:workers=2 -X none)
# every tool at the same zstd level (LEVEL, default 1, Lifeboat's), then the
# peers again at their own defaults (pgBackRest zst level 3, pg_basebackup
# zstd level 3). Reports MB/s (database bytes PostgreSQL sent / wall time),
# CPU seconds of the tool's processes, CPU seconds of the server's backend
# (walsender, where server-side compression runs), and the tool's peak RSS.
#
# With RESTORE=1 it then restores both equal-level backups into new
# directories, by
#   4. lifeboat restore --no-start  <- MinIO over TLS (files laid out)
#   5. pgbackrest restore           <- MinIO over TLS (process-max=2)
#   6. lifeboat restore to latest, PostgreSQL started, WAL replayed, promoted
#   7. pgbackrest restore, then PostgreSQL started until promoted (the same)
# reporting MB/s as database bytes / wall time. Both repositories hold the
# same WAL (the segments archived while the backups ran). DROP_CACHES=1
# empties the page cache before each restore (root; for a quiet machine), so
# no restore inherits the memory another one freed.
#
# With BENCH_TABLE set, the measures are appended to it (bench_row), with the
# issue's targets: backup >= 2x pgBackRest and >= 85% of pg_basebackup,
# restore to a started server >= 2.5x pgBackRest.
#
# PGDATA_CACHE=DIR keeps the loaded pgbench database in DIR/scale-N and
# starts later runs from a copy of it (loading scale 400 takes far longer
# than measuring it); PREPARE_ONLY=1 only loads (and keeps) it, so the load
# can run while the machine is busy and the measurements when it is quiet.
#
# Usage: [RESTORE=1] [LEVEL=1] [PGDATA_CACHE=DIR [PREPARE_ONLY=1]] tools/scripts/bench-backup.sh [pgbench scale, default 100 (~1.5 GB)]
# Needs: root, PostgreSQL 15 (Debian), pgbackrest, openssl, curl, MinIO in
# ~/.cache/lifeboat-tools/bin. Runs differ by up to 70% on noisy machines:
# compare tools within one run only. KEEP=1 keeps the work directory.
set -euo pipefail

SCALE=${1:-100}
BENCH_NAME=bench-backup
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

LEVEL=${LEVEL:-1}

# --- PostgreSQL 15 with a pgbench database ----------------------------------
# WAL is archived into a spool once the data is loaded (not during the load:
# at scale 400 that would be many GB); both tools get the spool's segments,
# so both restores replay the same WAL.
CACHE=${PGDATA_CACHE:+$PGDATA_CACHE/scale-$SCALE}
if [ -n "$CACHE" ] && [ -d "$CACHE" ]; then
	log "pgbench database (scale $SCALE) copied from $CACHE"
	mkdir -p "$W/pg"; chown postgres: "$W/pg"
	cp -a "$CACHE" "$W/pg/data"
	start_pg /bin/true 8GB
else
	start_pg /bin/true 8GB
	log "pgbench -i -s $SCALE, then random filler (compresses ~5x, not ~22x)"
	"$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
	"${PSQL[@]}" -c "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)" postgres
	"${PSQL[@]}" -c "VACUUM FULL pgbench_accounts" postgres
	"${PSQL[@]}" -c "CHECKPOINT" postgres
	if [ -n "$CACHE" ]; then
		# Keep the loaded database (server stopped cleanly) for later runs:
		# at scale 400 loading takes far longer than the measurements.
		log "keeping the loaded database in $CACHE"
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null
		# After a clean shutdown every WAL file named after the checkpoint's
		# is a recycled, preallocated one (GBs at max_wal_size 8GB): not kept.
		redo=$("$PGBIN/pg_controldata" "$W/pg/data" | awk -F': *' '/REDO WAL file/ {print $2}')
		find "$W/pg/data/pg_wal" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9A-F]{24}' |
			awk -F/ -v r="$redo" '$NF > r' | xargs -r rm -f
		mkdir -p "$PGDATA_CACHE"; rm -rf "$CACHE.tmp"
		cp -a "$W/pg/data" "$CACHE.tmp" && mv "$CACHE.tmp" "$CACHE"
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w start >/dev/null
	fi
fi
if [ -n "${PREPARE_ONLY:-}" ]; then log "PREPARE_ONLY: database loaded, nothing measured"; exit 0; fi
mkdir -p "$W/spool"; chown postgres: "$W/spool"
"${PSQL[@]}" -c "ALTER SYSTEM SET archive_command = 'test ! -f $W/spool/%f && cp %p $W/spool/%f'" postgres
# The restored servers inherit this: with fsync on, a server started from a
# restore syncs its data directory before recovery, so "to a started server"
# includes making the files durable, for both tools (pgBackRest fsyncs as it
# restores).
"${PSQL[@]}" -c "ALTER SYSTEM SET fsync = on" postgres
"${PSQL[@]}" -c "SELECT pg_reload_conf()" postgres >/dev/null
DBSIZE=$("${PSQL[@]}" -c "SELECT sum(pg_database_size(oid)) FROM pg_database" postgres)
SIZE_GB=$(awk -v b="$DBSIZE" 'BEGIN {printf "%.1f", b / 1e9}')
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
# A restored server's restore_command (pgbackrest archive-get) runs as postgres.
mkdir -p "$W/pgbr-log" "$W/pgbr-lock"; chown postgres: "$W/pgbr-log" "$W/pgbr-lock"
pgbackrest --config="$W/pgbackrest.conf" --stanza=bench stanza-create >/dev/null

# measure NAME CMD...: wall seconds, tool CPU seconds, server CPU seconds,
# peak RSS MB; kept as WALL[NAME], CPU[NAME], SCPU[NAME], RSS[NAME].
RESULTS=()
declare -A WALL CPU SCPU RSS
measure() {
	local name=$1; shift
	log "running $name"
	local s0 t0 t1 s1
	s0=$(server_cpu); t0=$(now)
	/usr/bin/time -v -o "$W/time-$name" "$@" >"$W/out-$name" 2>&1 || { cat "$W/out-$name" >&2; exit 1; }
	t1=$(now); s1=$(server_cpu)
	WALL[$name]=$(echo "$t1 - $t0" | bc -l)
	CPU[$name]=$(awk -F: '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$W/time-$name")
	RSS[$name]=$(awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$W/time-$name")
	SCPU[$name]=$(echo "$s1 - $s0" | bc -l)
	RESULTS+=("$(printf '%-40s %8.1f s %8.0f MB/s %8s s %8.1f s %8s MB' "$name" "${WALL[$name]}" "$(mbs "$name")" "${CPU[$name]}" "${SCPU[$name]}" "${RSS[$name]}")")
}
mbs() { echo "$DBSIZE / 1000000 / ${WALL[$1]}" | bc -l; }
fresh_cache() {
	sync
	if [ -n "${DROP_CACHES:-}" ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

DSN="host=$W/pg port=$PGPORT user=postgres dbname=postgres"
LB_B="lifeboat backup (zstd $LEVEL)"
PGBR_B="pgbackrest backup (zst $LEVEL)"
PGBB_B="pg_basebackup server-zstd $LEVEL (disk)"
measure "$LB_B" "$W/lifeboat" backup --config "$W/lifeboat.json" --pg-dsn "$DSN" --workers 2 --level "$LEVEL"
grep "^backup " "$W/out-$LB_B" >&2 || true
measure "$PGBR_B" pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --type=full --compress-level="$LEVEL" backup
PGBR_SET=$(pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --output=json info |
	python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["backup"][-1]["label"])')
mkdir -p "$W/pgbb"; chown postgres: "$W/pgbb"
measure "$PGBB_B" "$PGBIN/pg_basebackup" -h "$W/pg" -p "$PGPORT" -U postgres -D "$W/pgbb/b" \
	-Ft -X none --checkpoint=fast --compress="server-zstd:level=$LEVEL,workers=2"
PGBBSIZE=$(du -sb "$W/pgbb/b" | cut -f1)
rm -rf "$W/pgbb/b"
# The peers at their own defaults (zstd level 3 for both).
PGBR_D="pgbackrest backup (zst default)"
PGBB_D="pg_basebackup server-zstd default (disk)"
measure "$PGBR_D" pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --type=full backup
measure "$PGBB_D" "$PGBIN/pg_basebackup" -h "$W/pg" -p "$PGPORT" -U postgres -D "$W/pgbb/d" \
	-Ft -X none --checkpoint=fast --compress="server-zstd:workers=2"
rm -rf "$W/pgbb/d"

# Every segment archived while the backups ran, into both repositories.
"${PSQL[@]}" -c "SELECT pg_switch_wal()" postgres >/dev/null
for _ in $(seq 100); do
	[ -z "$(ls "$W/pg/data/pg_wal/archive_status" | grep '\.ready$' || true)" ] && break
	sleep 0.2
done
for f in $(ls "$W/spool" | sort); do
	PGDATA="$W/pg/data" "$W/lifeboat" wal-push --parallel 1 --config "$W/lifeboat.json" "$W/spool/$f" >/dev/null
	pgbackrest --config="$W/pgbackrest.conf" --stanza=bench archive-push "$W/spool/$f" >/dev/null
done
log "archived $(ls "$W/spool" | wc -l) WAL files into both repositories"

# server_phases NAME LOG: where a restored server's start went, from its log
# (timestamps with milliseconds): its start-up sync of the data directory
# (from "was interrupted" to "starting archive recovery"), the WAL replay,
# and the end of recovery (new timeline, checkpoint) until it accepts
# connections.
server_phases() {
	awk -v name="$1" '
		function t(line) { split(substr(line, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
		/database system was interrupted/ && !i { i = t($0) }
		/starting archive recovery/ && !s { s = t($0) }
		/redo done at/ && !r { r = t($0) }
		/database system is ready to accept connections/ && !d { d = t($0) }
		END { if (i && s && r && d) printf "%s: server start-up sync %.2f s, replay %.2f s, end of recovery to ready %.2f s\n", name, s - i, r - s, d - r }
	' "$2" >&2 || true
}

if [ -n "${RESTORE:-}" ]; then
	# PostgreSQL settings of every restored server: its own port and socket,
	# no archiving (it would archive into the spool).
	pg_opts() { echo "-c port=$1 -c unix_socket_directories=$W/pg -c archive_mode=off -c listen_addresses="; }
	LB_R="lifeboat restore --no-start"
	PGBR_R="pgbackrest restore (pm 2)"
	LB_S="lifeboat restore, server started"
	PGBR_S="pgbackrest restore + start"
	fresh_cache
	measure "$LB_R" "$W/lifeboat" restore --config "$W/lifeboat.json" --bin-dir "$PGBIN" \
		--data-dir "$W/r-lifeboat" --port "$(freeport)" --no-start --parallel 4
	grep -E "^(laid out|phases)" "$W/out-$LB_R" >&2 || true
	rm -rf "$W/r-lifeboat"; fresh_cache
	mkdir -p "$W/r-pgbackrest"; chmod 700 "$W/r-pgbackrest"; chown postgres: "$W/r-pgbackrest"
	measure "$PGBR_R" pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --pg1-path="$W/r-pgbackrest" \
		--set="$PGBR_SET" --type=immediate --target-action=promote restore
	rm -rf "$W/r-pgbackrest"; fresh_cache
	port=$(freeport)
	measure "$LB_S" "$W/lifeboat" restore --config "$W/lifeboat.json" --bin-dir "$PGBIN" \
		--data-dir "$W/r-lifeboat2" --port "$port" --parallel 4 --keep-running
	grep -E "^(restored|phases)" "$W/out-$LB_S" >&2 || true
	server_phases "$LB_S" "$W/r-lifeboat2/restore.log"
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/r-lifeboat2" -m fast stop >/dev/null
	rm -rf "$W/r-lifeboat2"; fresh_cache
	mkdir -p "$W/r-pgbackrest2"; chmod 700 "$W/r-pgbackrest2"; chown postgres: "$W/r-pgbackrest2"
	port=$(freeport)
	cat >"$W/pgbr-started.sh" <<SH
#!/bin/bash
set -e
pgbackrest --config="$W/pgbackrest.conf" --stanza=bench --pg1-path="$W/r-pgbackrest2" --set="$PGBR_SET" restore
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/r-pgbackrest2" -l "$W/r-pgbackrest2/startup.log" -o "$(pg_opts "$port")" -w -t 3600 start >/dev/null || { tail -20 "$W/r-pgbackrest2/startup.log"; exit 1; }
until [ "\$("$PGBIN/psql" -h "$W/pg" -p "$port" -U postgres -XAtq -c 'SELECT pg_is_in_recovery()' postgres 2>/dev/null)" = f ]; do sleep 0.1; done
SH
	chmod 755 "$W/pgbr-started.sh"
	measure "$PGBR_S" "$W/pgbr-started.sh"
	server_phases "$PGBR_S" "$W/r-pgbackrest2/startup.log"
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/r-pgbackrest2" -m fast stop >/dev/null
	rm -rf "$W/r-pgbackrest2"
fi

LBSTORED=$(du -sb "$W/minio/bench/lifeboat" 2>/dev/null | cut -f1 || echo 0)

echo
echo "base backup (and with RESTORE=1, restore) of $((DBSIZE / 1000000)) MB (pgbench scale $SCALE, random filler), $(nproc) cores, zstd level $LEVEL for every tool unless named default; pgBackRest process-max 2, pg_basebackup and lifeboat 2 zstd workers"
printf '%-40s %10s %13s %10s %10s %11s\n' "tool" "wall" "throughput" "tool CPU" "server CPU" "peak RSS"
for r in "${RESULTS[@]}"; do echo "$r"; done
echo "stored: lifeboat $((LBSTORED / 1000000)) MB (MinIO data dir), pg_basebackup $((PGBBSIZE / 1000000)) MB"

# --- rows of the make bench table -------------------------------------------
row_mbs() { # area measure lifeboat-name peer-name target-ratio
	local lb pe ratio
	lb=$(printf '%.0f' "$(mbs "$3")"); pe=$(printf '%.0f' "$(mbs "$4")")
	ratio=$(bench_ratio "$(mbs "$3")" "$(mbs "$4")")
	if [ -n "$5" ]; then
		bench_row "$1" "$2" "$lb MB/s" "$pe MB/s" "${ratio}x" ">= ${5}x" "$(bench_met "$ratio" '>=' "$5")"
	else
		bench_row "$1" "$2" "$lb MB/s" "$pe MB/s" "${ratio}x" - -
	fi
}
at="at ${SIZE_GB} GB"
row_mbs backup "vs pgBackRest zst $LEVEL pm 2, $at" "$LB_B" "$PGBR_B" 2
row_mbs backup "vs pg_basebackup server-zstd $LEVEL x2 to disk, $at" "$LB_B" "$PGBB_B" 0.85
row_mbs backup "vs pgBackRest at its default (zst 3), $at" "$LB_B" "$PGBR_D" ""
row_mbs backup "vs pg_basebackup at its default (zstd 3), $at" "$LB_B" "$PGBB_D" ""
bench_row backup "tool CPU s (tool + server), $at" "$(echo "${CPU[$LB_B]} + ${SCPU[$LB_B]}" | bc -l | xargs printf '%.1f')" \
	"$(echo "${CPU[$PGBR_B]} + ${SCPU[$PGBR_B]}" | bc -l | xargs printf '%.1f')" \
	"$(bench_ratio "$(echo "${CPU[$LB_B]} + ${SCPU[$LB_B]}" | bc -l)" "$(echo "${CPU[$PGBR_B]} + ${SCPU[$PGBR_B]}" | bc -l)")x" - -
# RSS flat in database size: bench-all.sh compares this row across scales.
bench_row backup "peak RSS MB, $at" "${RSS[$LB_B]}" "${RSS[$PGBR_B]}" - "flat in size" -
if [ -n "${RESTORE:-}" ]; then
	row_mbs restore "files laid out vs pgBackRest pm 2, $at" "$LB_R" "$PGBR_R" ""
	row_mbs restore "to a started server vs pgBackRest pm 2, $at" "$LB_S" "$PGBR_S" 2.5
	bench_row restore "tool CPU s, files laid out, $at" "${CPU[$LB_R]}" "${CPU[$PGBR_R]}" "$(bench_ratio "${CPU[$LB_R]}" "${CPU[$PGBR_R]}")x" - -
	bench_row restore "peak RSS MB, $at" "${RSS[$LB_R]}" "${RSS[$PGBR_R]}" - - -
fi
