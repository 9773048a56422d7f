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
#   3. archive_command latency (p50/p99) under full-speed pgbench: lifeboat
#      wal-push as archive_command alone, then with `lifeboat agent` pushing
#      WAL ahead (its usual deployment), against pgBackRest archive-push with
#      archive-async (process-max 2), each timed by a wrapper. CPU seconds
#      of the single push and of the agent are reported too: on a shared
#      machine wall clock is noise, CPU seconds much less so.
#
# pgBackRest runs at Lifeboat's zstd level (LEVEL, default 1; Lifeboat's
# wal-push always compresses WAL at level 1), and again at its default
# (level 3) for the single push and the async drain. With BENCH_TABLE set,
# the measures are appended to it (bench_row) with the issue's targets.
#
# WAL_SINGLE=1 measures only 1. (the single push: wall and CPU seconds of
# both tools, same run), in about a minute.
#
# Usage: [LEVEL=1] [WAL_SINGLE=1] tools/scripts/bench-wal.sh [N segments, default 24] [ROUNDS, default 5]
# Needs: root, PostgreSQL 15 (Debian), pgbackrest, openssl, curl, MinIO in
# ~/.cache/lifeboat-tools/bin. Runs differ by up to 70% on noisy machines:
# compare tools within one run only.
set -euo pipefail

N=${1:-24}
ROUNDS=${2:-5}
BENCH_NAME=bench-wal
LEVEL=${LEVEL:-1}
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
[ -z "${WAL_SINGLE:-}" ] || need=$ROUNDS
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
${PGBR_LEVEL:+compress-level=$PGBR_LEVEL}
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
PGBR_LEVEL=$LEVEL pgbr_conf sync /pgbr-sync "$W/pg/data" </dev/null
PGBR_LEVEL=$LEVEL pgbr_conf drain /pgbr-drain "$W/pg/data" </dev/null
PGBR_LEVEL='' pgbr_conf sync-default /pgbr-sync-default "$W/pg/data" </dev/null
# pgBackRest's async mode pushes ahead from pg_wal/archive_status/*.ready:
# give it a data directory whose pg_wal holds the backlog, as PostgreSQL's would.
mkdir -p "$W/fake/global" "$W/fake/pg_wal/archive_status"
cp "$W/pg/data/global/pg_control" "$W/fake/global/"
cp "$W/pg/data/PG_VERSION" "$W/fake/"
echo "archive-async=y" | PGBR_LEVEL=$LEVEL pgbr_conf async /pgbr-async "$W/fake"
mkdir -p "$W/fake-d/global" "$W/fake-d/pg_wal/archive_status"
cp "$W/pg/data/global/pg_control" "$W/fake-d/global/"
cp "$W/pg/data/PG_VERSION" "$W/fake-d/"
echo "archive-async=y" | PGBR_LEVEL='' pgbr_conf async-default /pgbr-async-default "$W/fake-d"

lb_push() { "$W/lifeboat" wal-push --parallel 1 --config "$W/lifeboat-$1.json" --pgdata "$W/pg/data" "$2"; }
for c in sync drain par; do
	sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-$c\"/" "$W/lifeboat.json" >"$W/lifeboat-$c.json"
	chmod 600 "$W/lifeboat-$c.json"
done
pgbr_push() { pgbackrest --config="$W/pgbackrest-$1.conf" --stanza=bench archive-push "$2"; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# --- 1. one synchronous push ------------------------------------------------
log "single push x$ROUNDS (interleaved)"
: >"$W/t-lb"; : >"$W/t-pgbr"; : >"$W/t-pgbr-d"
for i in $(seq 0 $((ROUNDS - 1))); do
	s="$W/segs/${SEGS[$i]}"
	t0=$(now); lb_push sync "$s"; t1=$(now); pgbr_push sync "$s"; t2=$(now); pgbr_push sync-default "$s"; t3=$(now)
	echo "$t1 - $t0" | bc -l >>"$W/t-lb"
	echo "$t2 - $t1" | bc -l >>"$W/t-pgbr"
	echo "$t3 - $t2" | bc -l >>"$W/t-pgbr-d"
done
LB1=$(median <"$W/t-lb"); PGBR1=$(median <"$W/t-pgbr"); PGBR1D=$(median <"$W/t-pgbr-d")
# CPU seconds (user + system) of one cold wal-push and one archive-push.
: >"$W/cpu-lb"; : >"$W/cpu-pgbr"
for i in $(seq 0 $((ROUNDS - 1))); do
	s="$W/segs/${SEGS[$i]}"
	sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-cpu$i\"/" "$W/lifeboat.json" >"$W/lifeboat-cpu.json"; chmod 600 "$W/lifeboat-cpu.json"
	/usr/bin/time -f '%U %S' -a -o "$W/cpu-lb.raw" "$W/lifeboat" wal-push --parallel 1 --config "$W/lifeboat-cpu.json" --pgdata "$W/pg/data" "$s"
	PGBR_LEVEL=$LEVEL pgbr_conf cpu "/pgbr-cpu$i" "$W/pg/data" </dev/null
	/usr/bin/time -f '%U %S' -a -o "$W/cpu-pgbr.raw" pgbackrest --config="$W/pgbackrest-cpu.conf" --stanza=bench archive-push "$s"
done
awk '{print $1 + $2}' "$W/cpu-lb.raw" >"$W/cpu-lb"; awk '{print $1 + $2}' "$W/cpu-pgbr.raw" >"$W/cpu-pgbr"
LBCPU=$(median <"$W/cpu-lb"); PGBRCPU=$(median <"$W/cpu-pgbr")
single_rows() {
	local r1
	r1=$(bench_ratio "$LB1" "$PGBR1")
	bench_row wal "one sync 16 MiB push vs pgBackRest archive-push zst $LEVEL" "$(printf '%.0f ms' "$(echo "$LB1*1000" | bc -l)")" \
		"$(printf '%.0f ms' "$(echo "$PGBR1*1000" | bc -l)")" "$r1" "<= 0.45" "$(bench_met "$r1" '<=' 0.45)"
	bench_row wal "one sync push vs pgBackRest at its default (zst 3)" "$(printf '%.0f ms' "$(echo "$LB1*1000" | bc -l)")" \
		"$(printf '%.0f ms' "$(echo "$PGBR1D*1000" | bc -l)")" "$(bench_ratio "$LB1" "$PGBR1D")" - -
	bench_row wal "CPU seconds of one cold push vs pgBackRest archive-push" "$(printf '%.3f s' "$LBCPU")" "$(printf '%.3f s' "$PGBRCPU")" \
		"$(bench_ratio "$LBCPU" "$PGBRCPU")" - -
}
if [ -n "${WAL_SINGLE:-}" ]; then
	printf '\n%-44s %14s %14s\n' "measure ($(nproc) cores, TLS MinIO, zstd)" "lifeboat" "pgBackRest"
	printf '%-44s %12.0fms %12.0fms\n' "one synchronous 16 MiB push (median of $ROUNDS)" "$(echo "$LB1*1000" | bc -l)" "$(echo "$PGBR1*1000" | bc -l)"
	printf '%-44s %14.2f   (target <= 0.45; %s)\n' "  lifeboat / pgBackRest" "$(echo "$LB1/$PGBR1" | bc -l)" "$("$W/lifeboat" version)"
	printf '%-44s %13.3fs %13.3fs\n' "  CPU seconds of one push (median)" "$LBCPU" "$PGBRCPU"
	printf '%-44s %12.0fms\n' "  pgBackRest at its default level (zst 3)" "$(echo "$PGBR1D*1000" | bc -l)"
	echo "how it ran: $(nproc) cores, MinIO over TLS on loopback, pgBackRest zst level $LEVEL, lifeboat zstd level 1, $ROUNDS single pushes (WAL_SINGLE: nothing else measured)"
	single_rows
	exit 0
fi

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
log "drain: pgBackRest async, process-max=2, at its default level"
for s in "${BACKLOG[@]}"; do cp "$W/segs/$s" "$W/fake-d/pg_wal/"; touch "$W/fake-d/pg_wal/archive_status/$s.ready"; done
t0=$(now)
(cd "$W/fake-d" && for s in "${BACKLOG[@]}"; do
	pgbackrest --config="$W/pgbackrest-async-default.conf" --stanza=bench archive-push "pg_wal/$s" >/dev/null
done)
t1=$(now)
PGBRAD=$(echo "$t1 - $t0" | bc -l)
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

# --- 3. archive_command latency under full-speed pgbench ----------------------
# Each archive_command runs under a wrapper that appends its duration (ms)
# to a file; PostgreSQL runs it as postgres in the data directory.
cat >"$W/timed.sh" <<'SH'
#!/bin/bash
# timed.sh OUT CMD...: run CMD, append its duration in ms to OUT, keep its status
out=$1; shift
t0=$(date +%s%N)
"$@"; rc=$?
echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$out"
exit $rc
SH
chmod 755 "$W/timed.sh"
sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-load\"/" "$W/lifeboat.json" >"$W/lifeboat-load.json"
chown postgres: "$W/lifeboat-load.json"; chmod 600 "$W/lifeboat-load.json"
echo "archive-async=y" | PGBR_LEVEL=$LEVEL pgbr_conf load /pgbr-load "$W/pg/data"
# archive_command runs as postgres: its pgBackRest needs its own lock and spool.
mkdir -p "$W/pgbr-log" "$W/pgbr-lock-load" "$W/pgbr-spool-load"
chown -R postgres: "$W/pgbr-log" "$W/pgbr-lock-load" "$W/pgbr-spool-load"
chmod 644 "$W/pgbackrest-load.conf"
declare -A TPS ARCHIVED FAILEDN BACKLOG_END DRAIN_AFTER
# load NAME ARCHIVE_COMMAND: pgbench for LOAD_SECONDS with that archive_command
load() {
	local name=$1 cmd=$2
	: >"$W/lat-$name"; chown postgres: "$W/lat-$name"
	log "pgbench at full speed for ${LOAD_SECONDS}s, archived by $name"
	"${PSQL[@]}" -c "ALTER SYSTEM SET archive_command = '$W/timed.sh $W/lat-$name $cmd'" postgres
	"${PSQL[@]}" -c "SELECT pg_reload_conf()" postgres >/dev/null
	"${PSQL[@]}" -c "SELECT pg_switch_wal()" postgres >/dev/null
	sleep 2
	local a0 t0
	a0=$("${PSQL[@]}" -c "SELECT archived_count FROM pg_stat_archiver" postgres)
	PGPASSWORD= "$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -c 4 -j 2 -T "$LOAD_SECONDS" \
		-b tpcb-like@9 -f "$W/walheavy.sql@1" postgres >"$W/pgbench-$name.log" 2>&1
	TPS[$name]=$(grep -o 'tps = [0-9.]*' "$W/pgbench-$name.log" | head -1 | cut -d' ' -f3)
	BACKLOG_END[$name]=$(ls "$W/pg/data/pg_wal/archive_status" | grep -c '\.ready$' || true)
	t0=$(now)
	while [ "$(ls "$W/pg/data/pg_wal/archive_status" | grep -c '\.ready$' || true)" -gt 0 ]; do
		sleep 0.2
		[ "$(echo "$(now) - $t0 > 120" | bc -l)" = 1 ] && break
	done
	DRAIN_AFTER[$name]=$(echo "$(now) - $t0" | bc -l)
	ARCHIVED[$name]=$(( $("${PSQL[@]}" -c "SELECT archived_count FROM pg_stat_archiver" postgres) - a0 ))
	FAILEDN[$name]=$("${PSQL[@]}" -c "SELECT failed_count FROM pg_stat_archiver" postgres)
}
# tpcb-like alone writes about one segment per 30 s here: too few
# archive_command calls for a p99. One transaction in ten also inserts 64 KiB
# of rows, so segments follow each other as on a busy server.
"${PSQL[@]}" -c "CREATE TABLE IF NOT EXISTS bench_wal (t text)" postgres
cat >"$W/walheavy.sql" <<'SQL'
INSERT INTO bench_wal SELECT repeat(md5(random()::text), 32) FROM generate_series(1, 64);
SQL
chmod 644 "$W/walheavy.sql"
pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }
: "${LOAD_SECONDS:=60}"
load lifeboat "$W/lifeboat wal-push --config $W/lifeboat-load.json %p"
# The agent beside the server, as the PostgreSQL account (it reads pg_wal and
# shares the push-ahead records with archive_command).
sed "s/\"cluster\":\"bench\"/\"cluster\":\"bench-ahead\"/" "$W/lifeboat.json" >"$W/lifeboat-ahead.json"
chown postgres: "$W/lifeboat-ahead.json"; chmod 600 "$W/lifeboat-ahead.json"
mkdir -p "$W/agent-home"; chown postgres: "$W/agent-home"
APORT=$((20000 + RANDOM % 20000))
setpriv --reuid postgres --regid postgres --init-groups env HOME="$W/agent-home" \
	"$W/lifeboat" agent --config "$W/lifeboat-ahead.json" --pgdata "$W/pg/data" --listen "127.0.0.1:$APORT" \
	--probe-interval 1000h --log-level warn >"$W/agent.log" 2>&1 &
APID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$APORT/healthz" >/dev/null && break; sleep 0.2; done
agent_cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$APID/stat"; }
ACPU0=$(agent_cpu)
load lifeboat-ahead "$W/lifeboat wal-push --config $W/lifeboat-ahead.json %p"
ACPU=$(echo "$(agent_cpu) - $ACPU0" | bc -l)
sleep 2 # the agent counts archive_command's outcomes once PostgreSQL marked them done
metric() { curl -sf "http://127.0.0.1:$APORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
AHEAD_HITS=$(metric lifeboat_wal_pushed_ahead_total); AHEAD_MISSES=$(metric lifeboat_wal_archive_command_pushed_total)
kill "$APID"; wait "$APID" || true
load pgbackrest-async "pgbackrest --config=$W/pgbackrest-load.conf --stanza=bench archive-push %p"

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
printf '%-44s %14.2f   (target <= 0.45; %s)\n' "  lifeboat / pgBackRest" "$(echo "$LB1/$PGBR1" | bc -l)" "$("$W/lifeboat" version)"
printf '%-44s %13.3fs %13.3fs\n' "  CPU seconds of one push (median)" "$LBCPU" "$PGBRCPU"
rate() { echo "$n/$1" | bc -l; }
mbs() { echo "$n*16.777216/$1" | bc -l; }
printf '%-44s %11.2f/s %11.2f/s\n' "drain $n segments, one process each" "$(rate "$LBD")" "$(rate "$PGBRD")"
printf '%-44s %9.0fMB/s %9.0fMB/s\n' "  (of WAL)" "$(mbs "$LBD")" "$(mbs "$PGBRD")"
printf '%-44s %11.2f/s %11.2f/s\n' "drain $n, parallel (lifeboat 3, pgBR async pm=2)" "$(rate "$LBP")" "$(rate "$PGBRA")"
printf '%-44s %9.0fMB/s %9.0fMB/s\n' "  (of WAL)" "$(mbs "$LBP")" "$(mbs "$PGBRA")"
for name in lifeboat lifeboat-ahead pgbackrest-async; do
	printf '\npgbench %ss at full speed, archived by %s (%s tps): %d segments archived, %s failures;\n' "$LOAD_SECONDS" "$name" "${TPS[$name]}" "${ARCHIVED[$name]}" "${FAILEDN[$name]}"
	printf 'archive_command latency p50 %s ms, p99 %s ms; not yet archived when pgbench stopped: %s; all archived %.1fs later\n' \
		"$(pct "$W/lat-$name" 50)" "$(pct "$W/lat-$name" 99)" "${BACKLOG_END[$name]}" "${DRAIN_AFTER[$name]}"
done
printf 'with the agent pushing ahead: %s archive_command calls returned on its record, %s pushed themselves; agent CPU %.1fs for %s segments\n' \
	"${AHEAD_HITS:-?}" "${AHEAD_MISSES:-?}" "$ACPU" "${ARCHIVED[lifeboat-ahead]}"
printf '%-44s %12.1fMB %12.1fMB\n' "bytes stored for the $n drained segments" "$(echo "$LBB/1048576" | bc -l)" "$(echo "$PGBRB/1048576" | bc -l)"

echo "how it ran: $(nproc) cores, MinIO over TLS on loopback, pgBackRest zst level $LEVEL (and default 3 where named), lifeboat zstd level 1, $n segments drained, $ROUNDS single pushes"

# --- rows of the make bench table -------------------------------------------
single_rows
bench_row wal "drain $n segments, one process each, vs pgBackRest sync" "$(printf '%.2f/s' "$(rate "$LBD")")" \
	"$(printf '%.2f/s' "$(rate "$PGBRD")")" "$(bench_ratio "$PGBRD" "$LBD")x" - -
rp=$(bench_ratio "$PGBRA" "$LBP")
bench_row wal "drain $n, parallel (lifeboat 3) vs pgBackRest async pm 2" "$(printf '%.2f/s' "$(rate "$LBP")")" \
	"$(printf '%.2f/s' "$(rate "$PGBRA")")" "${rp}x" ">= 1.5x" "$(bench_met "$rp" '>=' 1.5)"
bench_row wal "drain $n, parallel vs pgBackRest async at its default" "$(printf '%.2f/s' "$(rate "$LBP")")" \
	"$(printf '%.2f/s' "$(rate "$PGBRAD")")" "$(bench_ratio "$PGBRAD" "$LBP")x" - -
bench_row wal "archive_command p50 under pgbench vs pgBackRest async" "$(pct "$W/lat-lifeboat" 50) ms" "$(pct "$W/lat-pgbackrest-async" 50) ms" \
	"$(bench_ratio "$(pct "$W/lat-lifeboat" 50)" "$(pct "$W/lat-pgbackrest-async" 50)")" - -
bench_row wal "archive_command p99 under pgbench vs pgBackRest async" "$(pct "$W/lat-lifeboat" 99) ms" "$(pct "$W/lat-pgbackrest-async" 99) ms" \
	"$(bench_ratio "$(pct "$W/lat-lifeboat" 99)" "$(pct "$W/lat-pgbackrest-async" 99)")" - -
bench_row wal "archive_command p50, agent pushing ahead, vs pgBackRest async" "$(pct "$W/lat-lifeboat-ahead" 50) ms" "$(pct "$W/lat-pgbackrest-async" 50) ms" \
	"$(bench_ratio "$(pct "$W/lat-lifeboat-ahead" 50)" "$(pct "$W/lat-pgbackrest-async" 50)")" - -
bench_row wal "archive_command p99, agent pushing ahead, vs pgBackRest async" "$(pct "$W/lat-lifeboat-ahead" 99) ms" "$(pct "$W/lat-pgbackrest-async" 99) ms" \
	"$(bench_ratio "$(pct "$W/lat-lifeboat-ahead" 99)" "$(pct "$W/lat-pgbackrest-async" 99)")" - -
