#!/usr/bin/env bash
# bench-all.sh (`make bench`): runs every benchmark script in one go and prints
# one table of their measures. Each script appends its rows to $BENCH_TABLE as
#   area<TAB>measure<TAB>lifeboat<TAB>peer<TAB>ratio<TAB>target<TAB>met
# (bench_row in bench-lib.sh) and prints how it ran (cores, sizes, levels) in
# its own log, kept beside the table.
#
# Peers run at Lifeboat's compression algorithm and level (zstd 1) unless
# LEVEL= changes it for every tool; the scripts add the peers at their
# defaults as separate rows. SCALES= sets the pgbench scales of the backup and
# restore bench (default "100", ~1.5 GB; the issue's targets hold at 100 and
# at 400, ~6.3 GB, which needs ~20 GB of free disk: SCALES="100 400"); with
# two or more, a row compares Lifeboat's backup RSS across them.
# PGDATA_CACHE=DIR keeps each loaded pgbench database for the next run (see
# bench-backup.sh; load once with PREPARE_ONLY=1 ONLY=backup while the machine
# is busy, measure later when it is quiet). ONLY="backup wal" runs a subset. Numbers are ratios within one run: run on
# an otherwise idle machine.
#
# Usage: [SCALES="100 400"] [LEVEL=1] [ONLY="..."] [DROP_CACHES=1] [PGDATA_CACHE=DIR] tools/scripts/bench-all.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-$(mktemp -d /tmp/lifeboat-bench-all-XXXXXX)}
mkdir -p "$OUT"
export BENCH_TABLE=$OUT/table.tsv
: >"$BENCH_TABLE"
export LEVEL=${LEVEL:-1}
SCALES=${SCALES:-${SCALE:-100}}
SCALE=${SCALES%% *}

# name: command (scripts that do not exist yet are skipped and named in the table)
BENCHES=()
for sc in $SCALES; do
	BENCHES+=("backup:env RESTORE=1 $HERE/bench-backup.sh $sc")
done
BENCHES+=(
	"wal:$HERE/bench-wal.sh"
	"encryption:$HERE/bench-encryption.sh $((SCALE / 5 > 0 ? SCALE / 5 : 1))"
	"region:$HERE/bench-region.sh"
	"plan:$HERE/bench-plan.sh"
	"dumps:$HERE/bench-dumps.sh"
)

FAILED=()
for b in "${BENCHES[@]}"; do
	name=${b%%:*}
	cmd=${b#*:}
	if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
	script=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /\.sh$/) {print $i; exit}}' <<<"$cmd")
	if [ ! -x "$script" ]; then
		printf '%s\t%s\t-\t-\t-\t-\t-\n' "$name" "(no $(basename "$script") yet)" >>"$BENCH_TABLE"
		continue
	fi
	logf=$OUT/$name.log
	[ ! -e "$logf" ] || logf=$OUT/$name-$(date +%s).log
	echo "bench-all: $name ($cmd), log in $logf" >&2
	if ! $cmd >"$logf" 2>&1; then
		FAILED+=("$name")
		printf '%s\t%s\t-\t-\t-\t-\tno\n' "$name" "FAILED: see $logf" >>"$BENCH_TABLE"
	fi
done

# Backup RSS flat in database size: the largest scale's peak RSS against the
# smallest's (target: at most 20% more for 4x the data).
mapfile -t RSSROWS < <(awk -F'\t' '$1 == "backup" && $2 ~ /^peak RSS MB, at / {sub(/.* at /, "", $2); print $2 "\t" $3}' "$BENCH_TABLE" | sort -n)
if [ ${#RSSROWS[@]} -ge 2 ]; then
	small=${RSSROWS[0]}; large=${RSSROWS[-1]}
	growth=$(awk -v a="${large#*$'\t'}" -v b="${small#*$'\t'}" 'BEGIN {printf "%.2f", a / b}')
	met=$(awk -v g="$growth" 'BEGIN {print (g <= 1.2) ? "yes" : "no"}')
	printf 'backup\tpeak RSS growth %s -> %s\t%s MB -> %s MB\t-\t%sx\t<= 1.2x\t%s\n' \
		"${small%%$'\t'*}" "${large%%$'\t'*}" "${small#*$'\t'}" "${large#*$'\t'}" "$growth" "$met" >>"$BENCH_TABLE"
fi

echo
echo "lifeboat benchmarks: $(nproc) cores, zstd level $LEVEL for every tool unless a row says default, pgbench scales $SCALES; $(date -u +%FT%TZ)"
echo "how each script ran: the header lines of $OUT/<area>.log"
{
	printf 'area\tmeasure\tlifeboat\tpeer\tratio\ttarget\tmet\n'
	cat "$BENCH_TABLE"
} | column -t -s $'\t'
if [ ${#FAILED[@]} -gt 0 ]; then
	echo "failed: ${FAILED[*]}" >&2
	exit 1
fi
