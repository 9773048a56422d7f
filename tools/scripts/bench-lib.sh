# Shared setup of the benchmark scripts (sourced, not run): a work folder
# cleaned on exit, helpers, the lifeboat binary, and MinIO over TLS with a
# self-signed certificate (pgBackRest speaks only HTTPS to S3, and real S3 is
# TLS too, so every tool pays for it).
#
# Before sourcing, set BENCH_NAME. After it: REPO, PGBIN, W (work folder),
# PIDS, S3PORT, AK, SK, a "bench" bucket, $W/lifeboat, and start_pg; the
# helpers log, now, freeport and bench_row/bench_ratio/bench_met (one row of
# the table `make bench` prints, see bench-all.sh).

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
log() { echo "bench: $*" >&2; }

# bench_row AREA MEASURE LIFEBOAT PEER RATIO TARGET MET: one measure for the
# table `make bench` prints (tools/scripts/bench-all.sh). When BENCH_TABLE
# names a file the row is appended to it as TSV; every row is also logged so a
# script run alone still shows it. MET is yes, no or - (no target). Use "-"
# for a column that does not apply.
bench_row() {
	if [ $# -ne 7 ]; then
		log "bench_row needs 7 fields (area measure lifeboat peer ratio target met), got $#: $*"
		return 1
	fi
	local row
	row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$@")
	[ -z "${BENCH_TABLE:-}" ] || printf '%s\n' "$row" >>"$BENCH_TABLE"
	log "row: ${row//$'\t'/ | }"
}

# bench_ratio A B [DIGITS]: A / B with DIGITS decimals (2), "-" when B is 0 or empty.
bench_ratio() {
	awk -v a="${1:-0}" -v b="${2:-0}" -v d="${3:-2}" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.*f\n", d, a / b }'
}

# bench_met VALUE OP LIMIT: yes when VALUE OP LIMIT holds (OP is >= or <=), no otherwise, - without a value.
bench_met() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "" || v == "-") { print "-"; exit }
		if (op == ">=") print (v + 0 >= l + 0) ? "yes" : "no"; else print (v + 0 <= l + 0) ? "yes" : "no" }'
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=${LIFEBOAT_PG_BINDIR:-/usr/lib/postgresql/15/bin}
MINIO=${MINIO:-$HOME/.cache/lifeboat-tools/bin/minio}
W=$(mktemp -d "/tmp/lifeboat-${BENCH_NAME:-bench}-XXXXXX")
chmod 755 "$W"
PIDS=()
cleanup() {
	set +e
	[ -f "$W/pg/data/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# A script that needs only the helpers and the work folder (no lifeboat
# binary, no MinIO) sets BENCH_HELPERS_ONLY=1 before sourcing.
[ -z "${BENCH_HELPERS_ONLY:-}" ] || return 0

# --- lifeboat binary ---------------------------------------------------------
log "building lifeboat"
(cd "$REPO" && go build -o "$W/lifeboat" ./cmd/lifeboat)

# --- MinIO over TLS (self-signed) -------------------------------------------
mkdir -p "$W/certs" "$W/minio"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$W/certs/private.key" -out "$W/certs/public.crt" 2>/dev/null
S3PORT=$(freeport)
AK=bench-admin
SK=bench-secret-$RANDOM$RANDOM
MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off MINIO_UPDATE=off \
	"$MINIO" server "$W/minio" --certs-dir "$W/certs" --address 127.0.0.1:$S3PORT \
	--console-address 127.0.0.1:$(freeport) --quiet >"$W/minio.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -ksf https://127.0.0.1:$S3PORT/minio/health/ready >/dev/null && break; sleep 0.2; done
curl -ksf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -X PUT https://127.0.0.1:$S3PORT/bench >/dev/null
log "MinIO on https://127.0.0.1:$S3PORT"

# start_pg ARCHIVE_COMMAND MAX_WAL_SIZE: PostgreSQL 15 in $W/pg/data
# (trust, Unix socket only, fsync off, WAL archived by ARCHIVE_COMMAND);
# sets PGPORT and PSQL.
start_pg() {
	PGPORT=$(freeport)
	mkdir -p "$W/pg"
	chown postgres: "$W/pg"
	# A data directory already in place (a copy of a loaded database) is used as is.
	[ -d "$W/pg/data" ] || runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust --no-sync >/dev/null
	cat >>"$W/pg/data/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$W/pg'
wal_level = replica
archive_mode = on
archive_command = '$1'
max_wal_size = $2
fsync = off
CONF
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w start >/dev/null
	PSQL=("$PGBIN/psql" -h "$W/pg" -p "$PGPORT" -U postgres -XAtq -v ON_ERROR_STOP=1)
}
