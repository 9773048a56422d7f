#!/usr/bin/env bash
# bench-region.sh (`make bench-region`, and the "region" rows of `make bench`):
# the recovery region's copy between two MinIO servers (two regions, both over
# TLS with one self-signed certificate), in one run:
#
#   1. throughput: a synthetic repository of a SIZE_MB base backup (64 MiB
#      incompressible parts and its manifest) plus its WAL (16 MiB segments,
#      a tenth of SIZE_MB), copied by
#        - lifeboat region copy (8 workers; every object hashed as it streams
#          and read back from the destination and compared: two reads, one
#          write), into a locked bucket;
#        - mc mirror (no read-back), into another locked bucket;
#      MB/s as source bytes / wall time, and the CPU seconds of each.
#   2. lag under full-speed pgbench: PostgreSQL 15 archives WAL into the
#      primary with lifeboat wal-push while pgbench runs flat out for
#      DURATION seconds; `lifeboat agent` copies on the region's interval
#      (60 s, the agent's shortest); every 5 s `lifeboat region status`
#      measures the lag (age of the oldest object not verified at the
#      destination, plus the canary round trip). The largest is reported.
#
# Targets (#15): copy throughput at least mc mirror's, with verification on;
# lag under full-speed pgbench below 2 x the copy interval.
#
# Usage: [DURATION=180] [LAG_SCALE=10] tools/scripts/bench-region.sh [SIZE_MB, default 1536]
# With BENCH_TABLE set, rows are appended to it (bench_row, bench-lib.sh).
# Needs: MinIO and mc in $LIFEBOAT_TOOLS/bin, PostgreSQL 15, Go, curl, openssl,
# python3, /usr/bin/time; run as root (PostgreSQL runs as postgres).
# Runs differ a lot on a busy machine: compare within one run only.
# KEEP=1 keeps the work directory.
set -euo pipefail

SIZE_MB=${1:-1536}
DURATION=${DURATION:-180}
LAG_SCALE=${LAG_SCALE:-10}
INTERVAL=60
BENCH_NAME=bench-region
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
MC_BIN=${LIFEBOAT_TOOLS:-$HOME/.cache/lifeboat-tools}/bin/mc
export MC_CONFIG_DIR=$W/mc
mc() { "$MC_BIN" --insecure "$@"; }

echo "bench-region: $(nproc) cores, SIZE_MB=$SIZE_MB, DURATION=${DURATION}s, LAG_SCALE=$LAG_SCALE, copy interval ${INTERVAL}s; $(date -u +%FT%TZ)"

# --- the second region: another MinIO server, same certificate ----------------
DRPORT=$(freeport)
mkdir -p "$W/minio-dr"
MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off MINIO_UPDATE=off \
	"$MINIO" server "$W/minio-dr" --certs-dir "$W/certs" --address 127.0.0.1:$DRPORT \
	--console-address 127.0.0.1:$(freeport) --quiet >"$W/minio-dr.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -ksf https://127.0.0.1:$DRPORT/minio/health/ready >/dev/null && break; sleep 0.2; done
mc alias set primary https://127.0.0.1:$S3PORT "$AK" "$SK" >/dev/null
mc alias set dr https://127.0.0.1:$DRPORT "$AK" "$SK" >/dev/null
mc mb --with-lock dr/repo-dr >/dev/null
mc mb --with-lock dr/repo-mirror >/dev/null
log "primary https://127.0.0.1:$S3PORT, region https://127.0.0.1:$DRPORT"

# agent_config CLUSTER: the cluster's agent configuration, with the region's
# store.
agent_config() {
	cat >"$W/agent-$1.json" <<JSON
{"endpoint": "https://127.0.0.1:$S3PORT", "path_style": true, "skip_tls_verify": true, "access_key": "$AK", "secret_key": "$SK",
 "bucket": "bench", "prefix": "pg", "cluster": "$1",
 "stores": {"repo-dr": {"endpoint": "https://127.0.0.1:$DRPORT", "path_style": true, "skip_tls_verify": true, "access_key": "$AK", "secret_key": "$SK"}}}
JSON
	chown postgres: "$W/agent-$1.json"
	chmod 600 "$W/agent-$1.json"
}

# --- 1. throughput -------------------------------------------------------------
log "writing a ${SIZE_MB} MB base backup and its WAL into the primary"
ID=20261130T070000Z-ab12
ROOT=pg/main
mkdir -p "$W/src"
PARTS=$(((SIZE_MB + 63) / 64))
MANIFEST='{"id":"'$ID'","archives":[{"name":"base.tar.zst","parts":['
for i in $(seq 0 $((PARTS - 1))); do
	f=$(printf '%06d' "$i")
	head -c $((64 << 20)) /dev/urandom >"$W/src/part"
	sum=$(sha256sum "$W/src/part" | cut -d' ' -f1)
	mc cp -q "$W/src/part" "primary/bench/$ROOT/basebackups/$ID/base.tar.zst/$f" >/dev/null
	[ "$i" -gt 0 ] && MANIFEST+=','
	MANIFEST+='{"key":"'$ROOT/basebackups/$ID/base.tar.zst/$f'","sha256":"'$sum'"}'
done
MANIFEST+=']}]}'
SEGS=$((SIZE_MB / 160 + 1))
for i in $(seq 1 "$SEGS"); do
	head -c $((16 << 20)) /dev/urandom >"$W/src/seg"
	mc cp -q "$W/src/seg" "primary/bench/$ROOT/wal/00000001/$(printf '0000000100000000%08X' "$i").zst" >/dev/null
done
echo "$MANIFEST" >"$W/src/manifest.json"
mc cp -q "$W/src/manifest.json" "primary/bench/$ROOT/basebackups/$ID/manifest.json" >/dev/null
BYTES=$((PARTS * (64 << 20) + SEGS * (16 << 20)))
rm -f "$W/src/part" "$W/src/seg"
agent_config main

log "lifeboat region copy (verified)"
/usr/bin/time -f '%e %U %S' -o "$W/time-lifeboat" "$W/lifeboat" region copy --config "$W/agent-main.json" --name repo-dr >&2
log "mc mirror (not verified)"
/usr/bin/time -f '%e %U %S' -o "$W/time-mc" "$MC_BIN" --insecure mirror -q primary/bench/pg/main dr/repo-mirror/pg/main >/dev/null
read -r lb_wall lb_user lb_sys <"$W/time-lifeboat"
read -r mc_wall mc_user mc_sys <"$W/time-mc"
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.0f", b / 1e6 }')
lb_mbs=$(awk -v b="$BYTES" -v t="$lb_wall" 'BEGIN { printf "%.1f", b / 1e6 / t }')
mc_mbs=$(awk -v b="$BYTES" -v t="$mc_wall" 'BEGIN { printf "%.1f", b / 1e6 / t }')
lb_cpu=$(awk -v u="$lb_user" -v s="$lb_sys" 'BEGIN { printf "%.1f", u + s }')
mc_cpu=$(awk -v u="$mc_user" -v s="$mc_sys" 'BEGIN { printf "%.1f", u + s }')
ratio=$(bench_ratio "$lb_mbs" "$mc_mbs")
echo "source bytes: $MB MB"
echo "lifeboat region copy (verified): ${lb_wall} s, $lb_mbs MB/s, ${lb_cpu} CPU s"
echo "mc mirror (not verified):        ${mc_wall} s, $mc_mbs MB/s, ${mc_cpu} CPU s"
bench_row region "copy ${MB} MB, MB/s (lifeboat verified; peer mc mirror)" "$lb_mbs" "$mc_mbs" "$ratio" ">= 1.0 x mc mirror" "$(bench_met "$ratio" ">=" 1.0)"
bench_row region "copy ${MB} MB, CPU s (lifeboat verified; peer mc mirror)" "$lb_cpu" "$mc_cpu" "$(bench_ratio "$lb_cpu" "$mc_cpu")" - -

# --- 2. lag under full-speed pgbench -----------------------------------------
agent_config lag
start_pg "$W/lifeboat wal-push --config $W/agent-lag.json %p" 1GB
DSN="host=$W/pg port=$PGPORT user=postgres"
log "pgbench -i -s $LAG_SCALE and a base backup"
runuser -u postgres -- "$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -i -s "$LAG_SCALE" -q postgres >/dev/null 2>&1
"$W/lifeboat" backup --config "$W/agent-lag.json" --pg-dsn "$DSN" >&2
# The region's document, as the provider writes it (unsigned: this agent
# trusts no key).
printf '{"format":1,"name":"repo-dr","cluster":"lag","mode":"agent","destination":{"bucket":"repo-dr","store":"repo-dr"},"interval_seconds":%d,"max_lag_seconds":900,"updated":"%s"}\n' \
	"$INTERVAL" "$(date -u +%FT%TZ)" | mc pipe primary/bench/pg/lag/regions/repo-dr/config.json >/dev/null
LISTEN=127.0.0.1:$(freeport)
LIFEBOAT_PG_DSN=$DSN "$W/lifeboat" agent --config "$W/agent-lag.json" --holder bench --listen "$LISTEN" --tick 1s --refresh 2s \
	--log-format json >"$W/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://$LISTEN/healthz" >/dev/null && break; sleep 0.2; done
log "full-speed pgbench for ${DURATION}s while the agent copies every ${INTERVAL}s"
runuser -u postgres -- "$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -c 4 -j 2 -T "$DURATION" -n postgres >"$W/pgbench.log" 2>&1 &
BENCH_PID=$!
maxlag=0
samples=0
while kill -0 "$BENCH_PID" 2>/dev/null; do
	sleep 5
	lag=$("$W/lifeboat" region status --config "$W/agent-lag.json" --name repo-dr --json 2>>"$W/status.log" |
		python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["lag_seconds"])') || continue
	samples=$((samples + 1))
	maxlag=$(awk -v a="$maxlag" -v b="$lag" 'BEGIN { print (b > a) ? b : a }')
done
wait "$BENCH_PID" || true
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/pgbench.log" | head -1)
segs=$(mc ls -r primary/bench/pg/lag/wal/ | grep -c '\.zst$' || true)
passes=$(grep -c '"job":"region-repo-dr"' "$W/agent.log" || true)
echo "lag under full-speed pgbench: max ${maxlag} s over $samples samples (${DURATION}s, ${tps:-?} tps, $segs segments archived, agent log lines of the copy job: $passes)"
target=$((2 * INTERVAL))
if [ "$samples" -eq 0 ]; then maxlag=-; fi
bench_row region "lag under full-speed pgbench, max s (${DURATION}s, copy every ${INTERVAL}s)" "$maxlag" - - "< $target s (2 x interval)" \
	"$(bench_met "$maxlag" "<=" "$target")"
