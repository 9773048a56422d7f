#!/usr/bin/env bash
# bench-region.sh: copy throughput of a repository between two MinIO servers
# (two regions), in the same run, by
#   1. lifeboat region copy  (8 workers; every object hashed as it streams and
#      read back from the destination and compared: two reads, one write)
#   2. mc mirror             (no read-back)
# The repository is synthetic: a base backup of SIZE_MB in 64 MiB parts with
# its manifest, plus 16 MiB WAL segments (a tenth of SIZE_MB), random bytes.
# Reports MB/s as source bytes / wall time.
#
# Usage: tools/scripts/bench-region.sh [SIZE_MB, default 1536]
# Needs: MinIO and mc in ~/.cache/lifeboat-tools/bin, Go, curl, python3.
# Runs differ a lot on a busy machine: compare the two within one run only.
# KEEP=1 keeps the work directory.
set -euo pipefail

SIZE_MB=${1:-1536}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${LIFEBOAT_TOOLS:-$HOME/.cache/lifeboat-tools}/bin
W=$(mktemp -d /tmp/lifeboat-bench-region-XXXXXX)
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
log() { echo "bench: $*" >&2; }

(cd "$REPO" && go build -o "$W/lifeboat" ./cmd/lifeboat)
AK=bench-admin
SK=bench-secret-$RANDOM$RANDOM
# start_minio NAME PORT (not in a subshell: PIDS must reach cleanup)
start_minio() {
	mkdir -p "$W/$1"
	MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off MINIO_UPDATE=off \
		"$BIN/minio" server "$W/$1" --address 127.0.0.1:"$2" --console-address 127.0.0.1:"$(freeport)" --quiet >"$W/$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do curl -sf http://127.0.0.1:"$2"/minio/health/ready >/dev/null && break; sleep 0.2; done
}
P1=$(freeport)
start_minio primary "$P1"
P2=$(freeport)
start_minio dr "$P2"
export MC_CONFIG_DIR=$W/mc
"$BIN/mc" alias set primary http://127.0.0.1:"$P1" "$AK" "$SK" >/dev/null
"$BIN/mc" alias set dr http://127.0.0.1:"$P2" "$AK" "$SK" >/dev/null
"$BIN/mc" mb --with-lock primary/repo >/dev/null
"$BIN/mc" mb --with-lock dr/repo-dr >/dev/null
"$BIN/mc" mb --with-lock dr/repo-mirror >/dev/null

log "writing a ${SIZE_MB} MB base backup and its WAL into the primary"
ID=20261130T070000Z-ab12
ROOT=pg/main
mkdir -p "$W/src"
PARTS=$(( (SIZE_MB + 63) / 64 ))
MANIFEST='{"id":"'$ID'","archives":[{"name":"base.tar.zst","parts":['
for i in $(seq 0 $((PARTS - 1))); do
	f=$(printf '%06d' "$i")
	head -c $((64 << 20)) /dev/urandom >"$W/src/part"
	sum=$(sha256sum "$W/src/part" | cut -d' ' -f1)
	"$BIN/mc" cp -q "$W/src/part" "primary/repo/$ROOT/basebackups/$ID/base.tar.zst/$f" >/dev/null
	[ "$i" -gt 0 ] && MANIFEST+=','
	MANIFEST+='{"key":"'$ROOT/basebackups/$ID/base.tar.zst/$f'","sha256":"'$sum'"}'
done
MANIFEST+=']}]}'
SEGS=$(( SIZE_MB / 160 + 1 ))
for i in $(seq 1 "$SEGS"); do
	head -c $((16 << 20)) /dev/urandom >"$W/src/seg"
	"$BIN/mc" cp -q "$W/src/seg" "primary/repo/$ROOT/wal/00000001/$(printf '0000000100000000%08X' "$i").zst" >/dev/null
done
echo "$MANIFEST" >"$W/src/manifest.json"
"$BIN/mc" cp -q "$W/src/manifest.json" "primary/repo/$ROOT/basebackups/$ID/manifest.json" >/dev/null
BYTES=$(( PARTS * (64 << 20) + SEGS * (16 << 20) ))
rm -f "$W/src/part" "$W/src/seg"

cat >"$W/agent.json" <<JSON
{"endpoint": "http://127.0.0.1:$P1", "path_style": true, "access_key": "$AK", "secret_key": "$SK",
 "bucket": "repo", "prefix": "pg", "cluster": "main",
 "stores": {"repo-dr": {"endpoint": "http://127.0.0.1:$P2", "path_style": true, "access_key": "$AK", "secret_key": "$SK"}}}
JSON
chmod 600 "$W/agent.json"

log "lifeboat region copy"
t0=$(now)
"$W/lifeboat" region copy --config "$W/agent.json" --name repo-dr >&2
t1=$(now)
log "mc mirror"
"$BIN/mc" mirror -q primary/repo dr/repo-mirror >/dev/null
t2=$(now)
python3 - "$BYTES" "$t0" "$t1" "$t2" <<'PY'
import sys
b, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
mb = b / 1e6
print(f"source bytes: {mb:.0f} MB")
print(f"lifeboat region copy (verified): {t1-t0:.1f} s, {mb/(t1-t0):.1f} MB/s")
print(f"mc mirror (not verified):        {t2-t1:.1f} s, {mb/(t2-t1):.1f} MB/s")
PY
