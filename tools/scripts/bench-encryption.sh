#!/usr/bin/env bash
# bench-encryption.sh: what client-side encryption (age, after compression)
# costs, in one run, on the same data, against MinIO over TLS:
#   1. lifeboat backup, without and with encryption (server-side zstd),
#      twice each in the order plain, encrypted, encrypted, plain; the
#      faster of each pair counts (a busy machine only ever slows a run);
#   2. lifeboat restore --no-start of each, the same way (parallel ranged
#      GETs, decryption, zstd, tar);
#   3. one synchronous wal-push of a 16 MiB segment, without and with
#      (median of ROUNDS, the two interleaved, each on its own copy of the
#      same real segments).
# Throughput is database bytes / wall time; the last column is the
# encrypted run's throughput relative to the plain one.
#
# Usage: tools/scripts/bench-encryption.sh [pgbench scale, default 20 (~300 MB)] [ROUNDS, default 5]
# Needs: root, PostgreSQL 15 (Debian), openssl, curl, MinIO in
# ~/.cache/lifeboat-tools/bin. Runs differ by tens of percent on noisy
# machines: compare within one run only. KEEP=1 keeps the work directory.
set -euo pipefail

SCALE=${1:-20}
ROUNDS=${2:-5}
BENCH_NAME=bench-encryption
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

# --- PostgreSQL 15 with a pgbench database and real WAL segments ------------
mkdir -p "$W/segs"
chown postgres: "$W/segs"
start_pg "cp %p $W/segs/%f" 8GB
log "pgbench -i -s $SCALE, then random filler (compresses ~5x, not ~22x)"
"$PGBIN/pgbench" -h "$W/pg" -p "$PGPORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
"${PSQL[@]}" -c "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)" postgres
"${PSQL[@]}" -c "VACUUM FULL pgbench_accounts" postgres
"${PSQL[@]}" -c "CHECKPOINT" postgres
DBSIZE=$("${PSQL[@]}" -c "SELECT sum(pg_database_size(oid)) FROM pg_database" postgres)
log "databases: $((DBSIZE / 1000000)) MB"
FIRST=$("${PSQL[@]}" -c "SELECT pg_walfile_name(pg_switch_wal())" postgres)
count() { ls "$W/segs" | grep -E '^[0-9A-F]{24}$' | awk -v f="$FIRST" '$1 > f' | wc -l; }
for _ in $(seq 20); do
	[ "$(count)" -ge "$ROUNDS" ] && break
	"${PSQL[@]}" -c "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text) WHERE aid % 4 = 0" postgres
	"${PSQL[@]}" -c "SELECT pg_switch_wal()" postgres >/dev/null
	sleep 1
done
mapfile -t SEGS < <(ls "$W/segs" | grep -E '^[0-9A-F]{24}$' | sort | awk -v f="$FIRST" '$1 > f' | head -n "$ROUNDS")
[ "${#SEGS[@]}" -ge "$ROUNDS" ] || { log "only ${#SEGS[@]} segments"; exit 1; }

# --- two agent configurations: plain, and encrypted to a fresh age key ------
RECIPIENT=$("$W/lifeboat" keygen --age --out "$W/restorer.age")
chown postgres: "$W/restorer.age"
for c in plain encrypted; do
	extra=""
	[ "$c" = encrypted ] && extra=",\"encryption\":{\"recipients\":[\"$RECIPIENT\"]},\"identity_file\":\"$W/restorer.age\""
	cat >"$W/$c.json" <<JSON
{"endpoint":"https://127.0.0.1:$S3PORT","path_style":true,"skip_tls_verify":true,
 "access_key":"$AK","secret_key":"$SK","bucket":"bench","prefix":"lifeboat","cluster":"bench-$c","compression":"zstd"$extra}
JSON
	chmod 600 "$W/$c.json"
done

# measure NAME CMD...: appends "NAME wall cpu" to $W/results
measure() {
	local name=$1; shift
	log "running $name"
	local t0 t1
	t0=$(now)
	/usr/bin/time -v -o "$W/time-$name" "$@" >"$W/out-$name" 2>&1 || { cat "$W/out-$name" >&2; exit 1; }
	t1=$(now)
	echo "$name $(echo "$t1 - $t0" | bc -l) $(awk -F: '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$W/time-$name")" >>"$W/results"
}
: >"$W/results"

DSN="host=$W/pg port=$PGPORT user=postgres dbname=postgres"
for run in 1 2; do
	order="plain encrypted"
	[ "$run" = 2 ] && order="encrypted plain"
	for c in $order; do
		measure "backup-$c-$run" "$W/lifeboat" backup --config "$W/$c.json" --pg-dsn "$DSN" --workers 2 --level 1
		# The backup's WAL, pushed as archive_command would have, so that
		# it restores.
		read -r WALSTART WALSTOP < <(sed -n 's/.*WAL \([0-9A-F]\{24\}\)\.\.\([0-9A-F]\{24\}\).*/\1 \2/p' "$W/out-backup-$c-$run")
		for f in $(ls "$W/pg/data/pg_wal" | grep -E '^[0-9A-F]{24}$'); do
			if [[ "$f" > "$WALSTART" || "$f" == "$WALSTART" ]] && [[ "$f" < "$WALSTOP" || "$f" == "$WALSTOP" ]]; then
				PGDATA="$W/pg/data" "$W/lifeboat" wal-push --config "$W/$c.json" "$W/pg/data/pg_wal/$f" >/dev/null
			fi
		done
	done
done
sync
for run in 1 2; do
	order="plain encrypted"
	[ "$run" = 2 ] && order="encrypted plain"
	for c in $order; do
		measure "restore-$c-$run" "$W/lifeboat" restore --config "$W/$c.json" --bin-dir "$PGBIN" \
			--data-dir "$W/r-$c" --port "$(freeport)" --no-start --parallel 4
		rm -rf "$W/r-$c"; sync
	done
done

# One synchronous push per segment, alternating which goes first.
: >"$W/push-plain"; : >"$W/push-encrypted"
for i in "${!SEGS[@]}"; do
	order="plain encrypted"
	[ $((i % 2)) -eq 1 ] && order="encrypted plain"
	for c in $order; do
		t0=$(now)
		PGDATA="$W/pg/data" "$W/lifeboat" wal-push --parallel 1 --config "$W/$c.json" "$W/segs/${SEGS[$i]}"
		t1=$(now)
		echo "($t1 - $t0) * 1000" | bc -l >>"$W/push-$c"
	done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m}'; }

row() { # label, plain seconds, encrypted seconds, bytes
	awk -v l="$1" -v p="$2" -v e="$3" -v b="$4" 'BEGIN {
		printf "%-30s %9.2f s %7.1f MB/s %9.2f s %7.1f MB/s %+8.1f%%\n", l, p, b/1e6/p, e, b/1e6/e, (p/e - 1) * 100 }'
}
# get NAME COLUMN: the faster run's column (2: wall, 3: CPU) of NAME-1, NAME-2
get() { awk -v n="$1" -v c="$2" '$1 == n"-1" || $1 == n"-2" { if (best == "" || $2 < best) { best = $2; v = $c } } END {print v}' "$W/results"; }

echo
echo "client-side encryption, same run: $((DBSIZE / 1000000)) MB (pgbench scale $SCALE, random filler), $(nproc) cores, MinIO over TLS"
printf '%-30s %20s %20s %9s\n' "step" "plain" "encrypted (age)" "throughput"
row "base backup" "$(get backup-plain 2)" "$(get backup-encrypted 2)" "$DBSIZE"
row "restore --no-start" "$(get restore-plain 2)" "$(get restore-encrypted 2)" "$DBSIZE"
P=$(median "$W/push-plain"); E=$(median "$W/push-encrypted")
awk -v p="$P" -v e="$E" -v n="${#SEGS[@]}" 'BEGIN {
	printf "%-30s %9.1f ms %12s %9.1f ms %12s %+8.1f%%\n", "wal-push 16 MiB (median of " n ")", p, "", e, "", (p/e - 1) * 100 }'
printf 'agent CPU seconds: backup %s / %s, restore %s / %s (plain / encrypted)\n' \
	"$(get backup-plain 3)" "$(get backup-encrypted 3)" "$(get restore-plain 3)" "$(get restore-encrypted 3)"

# --- rows of the make bench table: encrypted against plain (the "peer") ------
enc_row() { # measure, plain seconds, encrypted seconds
	local pt et
	pt=$(awk -v s="$2" -v b="$DBSIZE" 'BEGIN {printf "%.0f MB/s", b / 1e6 / s}')
	et=$(awk -v s="$3" -v b="$DBSIZE" 'BEGIN {printf "%.0f MB/s", b / 1e6 / s}')
	bench_row encryption "$1 (lifeboat: encrypted, peer: plain)" "$et" "$pt" "$(bench_ratio "$2" "$3")x" ">= 0.9x" "$(bench_met "$(bench_ratio "$2" "$3")" '>=' 0.9)"
}
enc_row "base backup, $((DBSIZE / 1000000)) MB" "$(get backup-plain 2)" "$(get backup-encrypted 2)"
enc_row "restore --no-start, $((DBSIZE / 1000000)) MB" "$(get restore-plain 2)" "$(get restore-encrypted 2)"
bench_row encryption "wal-push 16 MiB, ms (lifeboat: encrypted, peer: plain)" "$E" "$P" "$(bench_ratio "$P" "$E")x" ">= 0.9x" "$(bench_met "$(bench_ratio "$P" "$E")" '>=' 0.9)"
