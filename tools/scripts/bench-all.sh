#!/usr/bin/env bash
# bench-all.sh (`make bench`): runs every benchmark script in one go and prints
# one table of their measures. Each script appends its rows to $BENCH_TABLE as
#   area<TAB>measure<TAB>lifeboat<TAB>peer<TAB>ratio<TAB>target<TAB>met
# (bench_row in bench-lib.sh) and prints how it ran (cores, sizes, levels) in
# its own log, kept beside the table.
#
# Peers run at Lifeboat's compression algorithm and level (zstd 1) unless
# LEVEL= changes it for every tool; the scripts add the peers at their
# defaults as separate rows. SCALE= sets the pgbench scale of the data-path
# benches (default 100, ~1.5 GB; the issue's targets hold at 100 and at 400).
# ONLY="backup wal" runs a subset. Numbers are ratios within one run: run on
# an otherwise idle machine.
#
# Usage: [SCALE=100] [LEVEL=1] [ONLY="..."] tools/scripts/bench-all.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-$(mktemp -d /tmp/lifeboat-bench-all-XXXXXX)}
mkdir -p "$OUT"
export BENCH_TABLE=$OUT/table.tsv
: >"$BENCH_TABLE"
export LEVEL=${LEVEL:-1}
SCALE=${SCALE:-100}

# name: command (scripts that do not exist yet are skipped and named in the table)
BENCHES=(
	"backup:env RESTORE=1 $HERE/bench-backup.sh $SCALE"
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
	echo "bench-all: $name ($cmd), log in $OUT/$name.log" >&2
	if ! $cmd >"$OUT/$name.log" 2>&1; then
		FAILED+=("$name")
		printf '%s\t%s\t-\t-\t-\t-\tno\n' "$name" "FAILED: see $OUT/$name.log" >>"$BENCH_TABLE"
	fi
done

echo
echo "lifeboat benchmarks: $(nproc) cores, zstd level $LEVEL for every tool unless a row says default, pgbench scale $SCALE; $(date -u +%FT%TZ)"
echo "how each script ran: the header lines of $OUT/<area>.log"
{
	printf 'area\tmeasure\tlifeboat\tpeer\tratio\ttarget\tmet\n'
	cat "$BENCH_TABLE"
} | column -t -s $'\t'
if [ ${#FAILED[@]} -gt 0 ]; then
	echo "failed: ${FAILED[*]}" >&2
	exit 1
fi
