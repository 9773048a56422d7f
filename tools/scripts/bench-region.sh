#!/usr/bin/env bash
# bench-region.sh (`make bench-region`, and the "region" rows of `make bench`):
# the recovery region's copy between two MinIO servers (two regions, both over
# TLS with one self-signed certificate), in one run:
#
#   1. throughput: a synthetic repository of a SIZE_MB base backup (64 MiB
#      incompressible parts and its manifest naming each part's SHA-256)
#      plus its WAL (16 MiB segments, a tenth of SIZE_MB), copied ROUNDS
#      times by each tool, alternating which goes first, each round into
#      fresh locked buckets:
#        - lifeboat region copy, verified: 8 workers, one streamed PUT per
#          object carrying a checksum the destination checks on arrival
#          and refuses otherwise: for a base backup part, the SHA-256 its
#          manifest records (x-amz-checksum-sha256, ahead of the body);
#          for a WAL segment, a CRC32C (aws-chunked trailer) of the bytes
#          whose SHA-256 the copy computes as they stream; no read-back
#          (`lifeboat region verify` is the deep check);
#        - mc mirror, its defaults: workers autodetected, multipart in
#          16 MiB parts, 4 threads per object, a CRC32C per part checked by
#          the destination;
#      MB/s as source bytes / wall time (all rounds), and the CPU seconds
#      per GB of the copier and of the two MinIO servers (/proc, while
#      each tool runs).
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
# Usage: [ROUNDS=2] [DURATION=180] [LAG_SCALE=10] [SKIP_LAG=1] tools/scripts/bench-region.sh [SIZE_MB, default 1536]
# With BENCH_TABLE set, rows are appended to it (bench_row, bench-lib.sh).
# Needs: MinIO and mc in $LIFEBOAT_TOOLS/bin, PostgreSQL 15, Go, curl, openssl,
# python3, /usr/bin/time; run as root (PostgreSQL runs as postgres).
# Runs differ a lot on a busy machine: compare within one run only; the CPU
# seconds per GB are steadier than the wall-clock ratio.
# KEEP=1 keeps the work directory. LIFEBOAT_CPUPROFILE=FILE profiles the
# copier's last round. MINIO_PROFILE=DIR takes a CPU profile of both MinIO
# servers during each tool's last round (MinIO's admin profile API,
# PROFILE_SECONDS long, 60 by default: it must outlast the copy), into
# DIR/<tool>-<primary|dr>.zip, and prints the top of each.
set -euo pipefail

SIZE_MB=${1:-1536}
DURATION=${DURATION:-180}
ROUNDS=${ROUNDS:-2}
# Only the copier's last round is profiled, not every lifeboat process.
PROFILE=${LIFEBOAT_CPUPROFILE:-}
unset LIFEBOAT_CPUPROFILE
MINIO_PROFILE=${MINIO_PROFILE:-}
PROFILE_SECONDS=${PROFILE_SECONDS:-60}
LAG_SCALE=${LAG_SCALE:-10}
INTERVAL=60
BENCH_NAME=bench-region
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
MC_BIN=${LIFEBOAT_TOOLS:-$HOME/.cache/lifeboat-tools}/bin/mc
export MC_CONFIG_DIR=$W/mc
mc() { "$MC_BIN" --insecure "$@"; }

echo "bench-region: $(nproc) cores, SIZE_MB=$SIZE_MB, ROUNDS=$ROUNDS, DURATION=${DURATION}s, LAG_SCALE=$LAG_SCALE, copy interval ${INTERVAL}s; $(date -u +%FT%TZ)"

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
PRIMARY_PID=${PIDS[0]}
DR_PID=${PIDS[$((${#PIDS[@]} - 1))]}
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

# cpu PID: the CPU seconds (user + system) process PID has used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"; }

# run_tool TOOL ROUND: one copy of the repository into fresh locked buckets;
# appends "wall copier_cpu minio_cpu" to $W/times-TOOL.
run_tool() {
	local tool=$1 r=$2 p0 d0 prof=() mprof=()
	mc mb --with-lock "dr/$tool-$r" >/dev/null
	if [ -n "$MINIO_PROFILE" ] && [ "$r" -eq "$ROUNDS" ]; then
		# Both servers profiled while this tool copies, by MinIO's admin
		# API (what `mc support profile` calls; that command wants the
		# cluster registered): a zip of one CPU profile per server.
		local side port
		for side in primary dr; do
			port=$S3PORT
			[ "$side" = dr ] && port=$DRPORT
			mkdir -p "$W/prof-$tool-$side"
			curl -ksf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" \
				-X POST "https://127.0.0.1:$port/minio/admin/v3/profile?duration=${PROFILE_SECONDS}s&profilerType=cpu" \
				-o "$W/prof-$tool-$side/profile.zip" &
			mprof+=($!)
		done
		sleep 2
	fi
	p0=$(cpu "$PRIMARY_PID")
	d0=$(cpu "$DR_PID")
	case $tool in
	lifeboat)
		log "round $r: lifeboat region copy (verified on arrival)"
		if [ -n "$PROFILE" ] && [ "$r" -eq "$ROUNDS" ]; then prof=(env "LIFEBOAT_CPUPROFILE=$PROFILE"); fi
		/usr/bin/time -f '%e %U %S' -o "$W/time" "${prof[@]}" "$W/lifeboat" region copy --config "$W/agent-main.json" \
			--name "$tool-$r" --store repo-dr >&2
		;;
	mc)
		log "round $r: mc mirror"
		/usr/bin/time -f '%e %U %S' -o "$W/time" "$MC_BIN" --insecure mirror -q primary/bench/pg/main "dr/$tool-$r/pg/main" >/dev/null
		;;
	esac
	local wall user sys
	read -r wall user sys <"$W/time"
	echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $(awk -v a="$p0" -v b="$(cpu "$PRIMARY_PID")" -v c="$d0" -v d="$(cpu "$DR_PID")" 'BEGIN { print b - a + d - c, b - a, d - c }')" >>"$W/times-$tool"
	echo "round $r $tool: $(tail -1 "$W/times-$tool") (wall s, copier CPU s, MinIO servers CPU s: both, source, destination)"
	if [ ${#mprof[@]} -gt 0 ]; then
		wait "${mprof[@]}" || true
		mkdir -p "$MINIO_PROFILE"
		for side in primary dr; do
			local z
			z=$(find "$W/prof-$tool-$side" -name '*.zip' | head -1)
			if [ -z "$z" ]; then
				log "no MinIO profile of $side while $tool ran"
				continue
			fi
			cp "$z" "$MINIO_PROFILE/$tool-$side.zip"
			(cd "$W/prof-$tool-$side" && unzip -qo "$z")
			local f
			f=$(find "$W/prof-$tool-$side" -name 'profile-*cpu*.pprof' | head -1)
			[ -n "$f" ] && go tool pprof -top -nodecount=25 "$f" 2>/dev/null | sed "s/^/  $tool $side: /" | head -32
		done
	fi
}

# Let the freshly written source settle (its dirty pages on disk), or the
# first tool to run pays for the writeback.
sync
sleep 5
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then run_tool lifeboat "$r"; run_tool mc "$r"; else run_tool mc "$r"; run_tool lifeboat "$r"; fi
done
GB=$(awk -v b="$BYTES" -v n="$ROUNDS" 'BEGIN { printf "%.4f", b * n / 1e9 }')
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.0f", b / 1e6 }')
# sums TOOL: "MB/s copier_cpu_s_per_GB minio_cpu_s_per_GB" over the rounds.
# "... source_cpu_s_per_GB destination_cpu_s_per_GB total_cpu_s_per_GB".
# On 2 cores the total CPU per GB (copier + both servers) is what decides
# the throughput.
sums() { awk -v gb="$GB" '{ w += $1; c += $2; m += $3; s += $4; d += $5 } END { printf "%.1f %.2f %.2f %.2f %.2f %.2f\n", gb * 1000 / w, c / gb, m / gb, s / gb, d / gb, (c + m) / gb }' "$W/times-$1"; }
read -r lb_mbs lb_cpu lb_srv lb_src lb_dst lb_tot < <(sums lifeboat)
read -r mc_mbs mc_cpu mc_srv mc_src mc_dst mc_tot < <(sums mc)
ratio=$(bench_ratio "$lb_mbs" "$mc_mbs")
echo "source bytes: $MB MB x $ROUNDS rounds"
echo "lifeboat region copy (verified on arrival): $lb_mbs MB/s; CPU s/GB: copier $lb_cpu, MinIO servers $lb_srv (source $lb_src, destination $lb_dst), total $lb_tot"
echo "mc mirror (defaults):                       $mc_mbs MB/s; CPU s/GB: copier $mc_cpu, MinIO servers $mc_srv (source $mc_src, destination $mc_dst), total $mc_tot"
bench_row region "copy ${MB} MB x ${ROUNDS}, MB/s (lifeboat verified on arrival, 8 workers; peer mc mirror defaults)" "$lb_mbs" "$mc_mbs" "$ratio" ">= 1.0 x mc mirror" "$(bench_met "$ratio" ">=" 1.0)"
bench_row region "copy, copier CPU s/GB (lifeboat; peer mc mirror)" "$lb_cpu" "$mc_cpu" "$(bench_ratio "$lb_cpu" "$mc_cpu")" - -
bench_row region "copy, both MinIO servers CPU s/GB (lifeboat; peer mc mirror)" "$lb_srv" "$mc_srv" "$(bench_ratio "$lb_srv" "$mc_srv")" - -
bench_row region "copy, total CPU s/GB: copier and both MinIO servers (lifeboat; peer mc mirror)" "$lb_tot" "$mc_tot" "$(bench_ratio "$lb_tot" "$mc_tot")" - -
[ -z "${SKIP_LAG:-}" ] || exit 0

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
