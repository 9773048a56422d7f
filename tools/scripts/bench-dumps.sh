#!/usr/bin/env bash
# bench-dumps.sh: dumps of many small tenant databases, in the same run, by
#   1. a serial loop of `pg_dump -Fc -f <file>` to local disk (the peer), and
#   2. `lifeboat backup tenants --parallel P` into MinIO over TLS: PARALLEL
#      pg_dump processes at once, each dump streamed, checksummed, written once
#      (If-None-Match) and its manifest written last.
# Every tenant holds a small Odoo-like table set (partners, orders,
# attachments: a few hundred rows). Each dump is then checked: the peer's with
# pg_restore --list, Lifeboat's by its manifest in the store's catalog
# (written only after the upload and pg_dump's exit succeeded). Reports the wall time of each, and the ratio.
#
# Also reports the CPU seconds of each side: Lifeboat's own, its pg_dump
# processes, the PostgreSQL backends (both sides) and MinIO.
#
# Usage: tools/scripts/bench-dumps.sh [TENANTS, default 500]
# PARALLEL (default 8) is Lifeboat's tenant_dump_parallelism.
# LIFEBOAT_CPUPROFILE=FILE keeps a CPU profile of the lifeboat run.
set -euo pipefail

N=${1:-${TENANTS:-500}}
PROFILE=${LIFEBOAT_CPUPROFILE:-}
unset LIFEBOAT_CPUPROFILE
PARALLEL=${PARALLEL:-8}
BENCH_NAME=dumps
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

echo "bench-dumps: $N tenant databases, $(nproc) cores, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), lifeboat --parallel $PARALLEL into MinIO over TLS vs a serial pg_dump -Fc loop to local disk"

start_pg true 1GB
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET max_connections = 200" >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w restart >/dev/null

# A template with the tenant schema, so each tenant is one CREATE DATABASE.
log "creating $N tenant databases"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE tenant_template" >/dev/null
"${PSQL[@]}" -d tenant_template <<'SQL' >/dev/null
CREATE TABLE res_partner (id serial PRIMARY KEY, name text, email text, created timestamptz DEFAULT now());
CREATE TABLE sale_order (id serial PRIMARY KEY, partner_id int REFERENCES res_partner, amount numeric(12,2), state text);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, res_model text, res_id int, store_fname text, checksum text);
CREATE INDEX ON sale_order (partner_id);
INSERT INTO res_partner (name, email) SELECT 'partner ' || g, 'p' || g || '@example.com' FROM generate_series(1, 200) g;
INSERT INTO sale_order (partner_id, amount, state) SELECT 1 + g % 200, g * 1.5, 'sale' FROM generate_series(1, 300) g;
INSERT INTO ir_attachment (res_model, res_id, store_fname, checksum) SELECT 'sale.order', g, md5(g::text), md5(g::text) FROM generate_series(1, 100) g;
SQL
mapfile -t DBS < <(seq -f 'tenant%04g' 1 "$N")
printf 'CREATE DATABASE %s TEMPLATE tenant_template;\n' "${DBS[@]}" | "${PSQL[@]}" -d postgres >/dev/null

cat >"$W/lifeboat.json" <<JSON
{"endpoint":"https://127.0.0.1:$S3PORT","path_style":true,"skip_tls_verify":true,
 "access_key":"$AK","secret_key":"$SK","bucket":"bench","prefix":"lifeboat","cluster":"bench"}
JSON
chmod 600 "$W/lifeboat.json"
DSN="host=$W/pg port=$PGPORT user=postgres dbname=postgres"

# CPU seconds: a process's own (cpu PID), and the backends the postmaster
# has reaped (pg_cpu).
HZ=$(getconf CLK_TCK)
cpu() { awk -v t="$HZ" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"; }
POSTMASTER=$(head -1 "$W/pg/data/postmaster.pid")
pg_cpu() { awk -v t="$HZ" '{ printf "%.2f\n", ($14 + $15 + $16 + $17) / t }' "/proc/$POSTMASTER/stat"; }
MINIO_PID=${PIDS[0]}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

log "serial pg_dump -Fc loop"
mkdir -p "$W/dumps"
chown postgres: "$W/dumps"
pg0=$(pg_cpu)
t0=$(now)
# shellcheck disable=SC2016 # expanded by the inner shell
/usr/bin/time -o "$W/serial.time" -f "%U %S" bash -c 'for db in "${@:4}"; do
	"$1/pg_dump" -Fc -h "$2" -p "$3" -U postgres -f "$2/../dumps/$db.dump" "$db"
done' serial "$PGBIN" "$W/pg" "$PGPORT" "${DBS[@]}"
t1=$(now)
sleep 0.5 # the postmaster reaps the last backend
SERIAL_PG=$(sub "$pg0" "$(pg_cpu)")
read -r su ss <"$W/serial.time"
SERIAL_DUMP=$(awk -v u="$su" -v s="$ss" 'BEGIN { printf "%.2f", u + s }')
SERIAL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
for db in "${DBS[@]}"; do
	"$PGBIN/pg_restore" --list "$W/dumps/$db.dump" | grep -q "TABLE DATA public sale_order" || { log "peer dump of $db incomplete"; exit 1; }
done

log "lifeboat backup tenants --parallel $PARALLEL"
prof=()
[ -z "$PROFILE" ] || prof=("LIFEBOAT_CPUPROFILE=$PROFILE")
pg0=$(pg_cpu)
m0=$(cpu "$MINIO_PID")
t0=$(now)
/usr/bin/time -o "$W/lifeboat.time" -f "%U %S %M" env "${prof[@]}" LIFEBOAT_RUSAGE="$W/lifeboat.rusage" "$W/lifeboat" backup tenants --config "$W/lifeboat.json" --pg-dsn "$DSN" \
	--pg-bindir "$PGBIN" --parallel "$PARALLEL" "${DBS[@]}" >"$W/lifeboat.log" 2>&1 || { tail -20 "$W/lifeboat.log"; exit 1; }
t1=$(now)
LIFEBOAT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
sleep 0.5
LIFEBOAT_PG=$(sub "$pg0" "$(pg_cpu)")
LIFEBOAT_MINIO=$(sub "$m0" "$(cpu "$MINIO_PID")")
read -r lu ls lrss <"$W/lifeboat.time"
read -r su ss cu cs _ <"$W/lifeboat.rusage"
LIFEBOAT_SELF=$(awk -v u="$su" -v s="$ss" 'BEGIN { printf "%.2f", u + s }')
LIFEBOAT_DUMP=$(awk -v u="$cu" -v s="$cs" 'BEGIN { printf "%.2f", u + s }')

# Every tenant has its dump and manifest in the store (the manifest is
# written only after the dump's upload and pg_dump's exit succeeded).
"$W/lifeboat" backups --config "$W/lifeboat.json" --json >"$W/backups.json"
DUMPED=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len({b["database"] for b in d["backups"] if b.get("database")}))' "$W/backups.json")
if [ "$DUMPED" != "$N" ]; then
	log "the catalog lists $DUMPED tenants with dumps, want $N"
	exit 1
fi

RATIO=$(bench_ratio "$SERIAL" "$LIFEBOAT")
printf '\n%-58s %10s %10s %8s\n' "measure ($N tenants)" lifeboat "pg_dump" ratio
printf '%-58s %10s %10s %8s\n' "wall s (lifeboat --parallel $PARALLEL to MinIO vs serial loop)" "$LIFEBOAT" "$SERIAL" "$RATIO"
printf '%-58s %10s %10s\n' "CPU s, the tool itself (lifeboat / bash loop)" "$LIFEBOAT_SELF" "-"
printf '%-58s %10s %10s\n' "CPU s, pg_dump processes" "$LIFEBOAT_DUMP" "$SERIAL_DUMP"
printf '%-58s %10s %10s\n' "CPU s, PostgreSQL backends" "$LIFEBOAT_PG" "$SERIAL_PG"
printf '%-58s %10s %10s\n' "CPU s, MinIO" "$LIFEBOAT_MINIO" "-"
ALL_L=$(awk -v a="$LIFEBOAT_SELF" -v b="$LIFEBOAT_DUMP" -v c="$LIFEBOAT_PG" -v d="$LIFEBOAT_MINIO" 'BEGIN { printf "%.2f", a + b + c + d }')
ALL_S=$(awk -v b="$SERIAL_DUMP" -v c="$SERIAL_PG" 'BEGIN { printf "%.2f", b + c }')
printf '%-58s %10s %10s\n' "CPU s, all of the above" "$ALL_L" "$ALL_S"
printf '%-58s %10s %10s\n' "CPU ms per dump" "$(awk -v a="$ALL_L" -v n="$N" 'BEGIN { printf "%.1f", 1000 * a / n }')" \
	"$(awk -v a="$ALL_S" -v n="$N" 'BEGIN { printf "%.1f", 1000 * a / n }')"
# The ratio Lifeboat would reach with every core busy all the time: the
# serial loop's wall against Lifeboat's CPU spread over the cores.
printf '%-58s %10s\n' "ratio with all $(nproc) cores busy (serial wall / (CPU s / cores))" \
	"$(awk -v w="$SERIAL" -v a="$ALL_L" -v c="$(nproc)" 'BEGIN { printf "%.2f", w / (a / c) }')"
printf '%-58s %10s\n' "lifeboat CPU s with its pg_dumps (user + sys)" "$(awk -v u="$lu" -v s="$ls" 'BEGIN { printf "%.2f", u + s }')"
printf '%-58s %10s\n' "lifeboat peak RSS MiB" "$((lrss / 1024))"
bench_row dumps "$N tenant dumps: lifeboat --parallel $PARALLEL vs serial pg_dump -Fc loop (speed-up)" "${LIFEBOAT}s" "${SERIAL}s" "$RATIO" ">=2.5" "$(bench_met "$RATIO" ">=" 2.5)"
