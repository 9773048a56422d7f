#!/usr/bin/env bash
# bench-wal.sh: lifeboat wal-push against pgBackRest archive-push, same
# machine, same MinIO (over TLS, as both would pay against real S3), same
# real WAL segments.
#
# Measures
#   1. one synchronous push of a 16 MiB segment (median of ROUNDS, tools
#      interleaved), i.e. the latency archive_command adds per segment;
#   2. backlog drain: N pre-generated segments pushed one process per
#      segment, in order, as PostgreSQL's archiver does (segments/s);
#      pgBackRest also with archive-async + process-max=2, its parallel mode.
#
# Usage: tools/scripts/bench-wal.sh [N segments, default 24] [ROUNDS, default 5]
# Needs: root, PostgreSQL 15 (Debian), pgbackrest, openssl, curl, MinIO in
# ~/.cache/lifeboat-tools/bin. Runs differ by up to 70% on noisy machines:
# compare tools within one run only.
set -euo pipefail

N=${1:-24}
ROUNDS=${2:-5}
BENCH_NAME=bench-wal
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

# --- PostgreSQL 15 producing N real WAL segments ----------------------------
mkdir -p "$W/segs"
chown postgres: "$W/segs"
start_pg "cp %p $W/segs/%f" 4GB
log "generating WAL (pgbench -i -s 10, then random filler so it compresses ~5x, not ~22x)"
"$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
# Segments written by pgbench -i hold blank-padded rows (~30x): use only
# segments after this point.
FIRST=$("${PSQL[@]}" -c "SELECT pg_walfile_name(pg_switch_wal())" postgres)
need=$((N + ROUNDS))
count() { ls "$W/segs" | grep -E '^[0-9A-F]{24}$' | awk -v f="$FIRST" '$1 > f' | wc -l; }
for _ in $(seq 20); do
	[ "$(count)" -ge "$need" ] && break
	"${PSQL[@]}" -c "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)" postgres
	"${PSQL[@]}" -c "SELECT pg_switch_wal()" postgres >/dev/null
	sleep 1
done
mapfile -t SEGS < <(ls "$W/segs" | grep -E '^[0-9A-F]{24}$' | sort | awk -v f="$FIRST" '$1 > f' | head -n "$need")
[ "${#SEGS[@]}" -ge "$need" ] || { log "only ${#SEGS[@]} segments"; exit 1; }
log "${#SEGS[@]} segments ready; raw zstd ratio of one: $(zstd -3 -c "$W/segs/${SEGS[1]}" 2>/dev/null | wc -c | awk '{printf "%.1fx", 16777216/$1}' || echo n/a)"

# --- tool configurations ----------------------------------------------------
cat >"$W/lifeboat.json" <<JSON
{"endpoint":"https://127.0.0.1:$S3PORT","path_style":true,"skip_tls_verify":true,
 "access_key":"$AK","secret_key":"$SK","bucket":"bench","prefix":"lifeboat","cluster":"bench","compression":"zstd"}
JSON
chmod 600 "$W/lifeboat.json"
pgbr_conf() { # $1 name, $2 repo path, extra lines on stdin
	cat >"$W/pgbackrest-$1.conf" <<CONF
[global]
repo1-type=s3
repo1-path=$2
repo1-s3-bucket=bench
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$S3PORT
repo1-s3-region=us-east-1
repo1-s3-key=$AK
repo1-s3-key-secret=$SK
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
compress-type=zst
process-max=2
log-level-console=warn
log-level-file=off
log-path=$W/pgbr-log
lock-path=$W/pgbr-lock-$1
spool-path=$W/pgbr-spool-$1
$(cat)

[bench]
pg1-path=$3
pg1-port=$PGPORT
pg1-socket-path=$W/pg
pg1-user=postgres
CONF
	pgbackrest --config="$W/pgbackrest-$1.conf" --stanza=bench --no-online stanza-create >/dev/null
}
pgbr_conf sync /pgbr-sync "$W/pg/data" </dev/null
pgbr_conf drain /pgbr-drain "$W/pg/data" </dev/null
# pgBackRest's async mode pushes ahead from pg_wal/archive_status/*.ready:
# give it a data directory whose pg_wal holds the backlog, as PostgreSQL's would.
mkdir -p "$W/fake/global" "$W/fake/pg_wal/archive_status"
cp "$W/pg/data/global/pg_control" "$W/fake/global/"
cp "$W/pg/data/PG_VERSION" "$W/fake/"
echo "archive-async=y" | pgbr_conf async /pgbr-async "$W/fake"

lb_push() { "$W/lifeboat" wal-push --parallel 1 --config "$W/lifeboat-$1.json" --pgdata "$W/pg/data" "$2"; }
for c in sync drain par; do
	sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-$c\"/" "$W/lifeboat.json" >"$W/lifeboat-$c.json"
	chmod 600 "$W/lifeboat-$c.json"
done
pgbr_push() { pgbackrest --config="$W/pgbackrest-$1.conf" --stanza=bench archive-push "$2"; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# --- 1. one synchronous push ------------------------------------------------
log "single push x$ROUNDS (interleaved)"
: >"$W/t-lb"; : >"$W/t-pgbr"
for i in $(seq 0 $((ROUNDS - 1))); do
	s="$W/segs/${SEGS[$i]}"
	t0=$(now); lb_push sync "$s"; t1=$(now); pgbr_push sync "$s"; t2=$(now)
	echo "$t1 - $t0" | bc -l >>"$W/t-lb"
	echo "$t2 - $t1" | bc -l >>"$W/t-pgbr"
done
LB1=$(median <"$W/t-lb"); PGBR1=$(median <"$W/t-pgbr")

# --- 2. backlog drain --------------------------------------------------------
BACKLOG=("${SEGS[@]:$ROUNDS:$N}")
log "drain of ${#BACKLOG[@]} segments: lifeboat"
t0=$(now); for s in "${BACKLOG[@]}"; do lb_push drain "$W/segs/$s"; done; t1=$(now)
LBD=$(echo "$t1 - $t0" | bc -l)
log "drain: pgBackRest sync"
t0=$(now); for s in "${BACKLOG[@]}"; do pgbr_push drain "$W/segs/$s"; done; t1=$(now)
PGBRD=$(echo "$t1 - $t0" | bc -l)
log "drain: pgBackRest async, process-max=2"
for s in "${BACKLOG[@]}"; do cp "$W/segs/$s" "$W/fake/pg_wal/"; touch "$W/fake/pg_wal/archive_status/$s.ready"; done
t0=$(now)
(cd "$W/fake" && for s in "${BACKLOG[@]}"; do
	# PostgreSQL runs archive_command in the data directory with a relative %p.
	pgbackrest --config="$W/pgbackrest-async.conf" --stanza=bench archive-push "pg_wal/$s" >/dev/null
done)
t1=$(now)
PGBRA=$(echo "$t1 - $t0" | bc -l)
log "drain: lifeboat --parallel 3 (pushes ready segments ahead)"
mkdir -p "$W/fake2/global" "$W/fake2/pg_wal/archive_status"
cp "$W/pg/data/global/pg_control" "$W/fake2/global/"
for s in "${BACKLOG[@]}"; do cp "$W/segs/$s" "$W/fake2/pg_wal/"; touch "$W/fake2/pg_wal/archive_status/$s.ready"; done
t0=$(now)
(cd "$W/fake2" && for s in "${BACKLOG[@]}"; do
	# As PostgreSQL's archiver: skip files no longer .ready, mark done on success.
	[ -e "pg_wal/archive_status/$s.ready" ] || continue
	"$W/lifeboat" wal-push --parallel 3 --config "$W/lifeboat-par.json" --pgdata "$W/fake2" "pg_wal/$s"
	mv "pg_wal/archive_status/$s.ready" "pg_wal/archive_status/$s.done"
done)
t1=$(now)
LBP=$(echo "$t1 - $t0" | bc -l)

# --- 3. full-speed pgbench with lifeboat as archive_command --------------------
log "pgbench at full speed for ${LOAD_SECONDS:=30}s, archived by lifeboat wal-push (parallel 3)"
sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-load\"/" "$W/lifeboat.json" >"$W/lifeboat-load.json"
chown postgres: "$W/lifeboat-load.json"; chmod 600 "$W/lifeboat-load.json"
"${PSQL[@]}" -c "ALTER SYSTEM SET archive_command = '$W/lifeboat wal-push --config $W/lifeboat-load.json %p'" postgres
"${PSQL[@]}" -c "SELECT pg_reload_conf()" postgres >/dev/null
"${PSQL[@]}" -c "SELECT pg_switch_wal()" postgres >/dev/null
sleep 2
A0=$("${PSQL[@]}" -c "SELECT archived_count FROM pg_stat_archiver" postgres)
PGPASSWORD= "$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -c 4 -j 2 -T "$LOAD_SECONDS" postgres >"$W/pgbench.log" 2>&1
TPS=$(grep -o 'tps = [0-9.]*' "$W/pgbench.log" | head -1 | cut -d' ' -f3)
BACKLOG_END=$(ls "$W/pg/data/pg_wal/archive_status" | grep -c '\.ready$' || true)
t0=$(now)
while [ "$(ls "$W/pg/data/pg_wal/archive_status" | grep -c '\.ready$' || true)" -gt 0 ]; do
	sleep 0.2
	[ "$(echo "$(now) - $t0 > 120" | bc -l)" = 1 ] && break
done
DRAIN_AFTER=$(echo "$(now) - $t0" | bc -l)
A1=$("${PSQL[@]}" -c "SELECT archived_count FROM pg_stat_archiver" postgres)
FAILED=$("${PSQL[@]}" -c "SELECT failed_count FROM pg_stat_archiver" postgres)

# --- stored bytes -----------------------------------------------------------
stored_bytes() { # sum of object sizes under prefix $1 (first 1000 keys: enough here)
	{ curl -ksf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
		"https://127.0.0.1:$S3PORT/bench?list-type=2&prefix=${1//\//%2F}" || true; } |
		{ grep -o '<Size>[0-9]*</Size>' || true; } | tr -dc '0-9\n' | awk '{s+=$1} END {print s+0}'
}
LBB=$(stored_bytes lifeboat/bench-drain/wal/); PGBRB=$(stored_bytes pgbr-drain/archive/)

# --- what was stored reads back -------------------------------------------
for s in "${BACKLOG[0]}" "${BACKLOG[-1]}"; do
	"$W/lifeboat" wal-fetch --config "$W/lifeboat-drain.json" "$s" "$W/fetched"
	cmp -s "$W/fetched" "$W/segs/$s" || { log "wal-fetch of $s differs from the segment"; exit 1; }
done

n=${#BACKLOG[@]}
printf '\n%-44s %14s %14s\n' "measure ($(nproc) cores, TLS MinIO, zstd)" "lifeboat" "pgBackRest"
printf '%-44s %12.0fms %12.0fms\n' "one synchronous 16 MiB push (median of $ROUNDS)" "$(echo "$LB1*1000" | bc -l)" "$(echo "$PGBR1*1000" | bc -l)"
printf '%-44s %14.2f   (target <= 0.50; %s)\n' "  lifeboat / pgBackRest" "$(echo "$LB1/$PGBR1" | bc -l)" "$("$W/lifeboat" version)"
rate() { echo "$n/$1" | bc -l; }
mbs() { echo "$n*16.777216/$1" | bc -l; }
printf '%-44s %11.2f/s %11.2f/s\n' "drain $n segments, one process each" "$(rate "$LBD")" "$(rate "$PGBRD")"
printf '%-44s %9.0fMB/s %9.0fMB/s\n' "  (of WAL)" "$(mbs "$LBD")" "$(mbs "$PGBRD")"
printf '%-44s %11.2f/s %11.2f/s\n' "drain $n, parallel (lifeboat 3, pgBR async pm=2)" "$(rate "$LBP")" "$(rate "$PGBRA")"
printf '%-44s %9.0fMB/s %9.0fMB/s\n' "  (of WAL)" "$(mbs "$LBP")" "$(mbs "$PGBRA")"
printf '\npgbench %ss at full speed (%s tps): %d segments archived by lifeboat, %s failures;\n' "$LOAD_SECONDS" "$TPS" "$((A1 - A0))" "$FAILED"
printf 'segments not yet archived when pgbench stopped: %s (the one being archived at that moment counts);\nall archived %.1fs later\n\n' "$BACKLOG_END" "$DRAIN_AFTER"
printf '%-44s %12.1fMB %12.1fMB\n' "bytes stored for the $n drained segments" "$(echo "$LBB/1048576" | bc -l)" "$(echo "$PGBRB/1048576" | bc -l)"
