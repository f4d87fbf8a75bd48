#!/usr/bin/env bash
# compare.sh - the measurements behind docs/comparison.md: CPU and wall time
# of `inputs_matter process` alone, under `spanprof record`, under
# `perf record -F 999 -g`, and (on a smaller input, -pg build) under
# `uftrace record`; plus the size of what each one wrote.
#
# Usage: examples/inputs_matter/compare.sh BUILD_DIR [ROUNDS]
#   Needs perf and uftrace (Debian packages linux-perf, uftrace); a tool
#   that is missing is skipped. Prints one line per run and the medians.
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-3}
src=$(cd "$(dirname "$0")/../.." && pwd)
prog=$build/examples/inputs_matter/inputs_matter
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$prog" generate big.txt 20000
"$prog" generate small.txt 2000
gcc -O2 -g -pg -DSPANPROF_DISABLE -I "$src/tracer/include" \
	"$src/examples/inputs_matter/inputs_matter.c" -o inputs_matter_pg

results=$work/results
TIMEFORMAT='%R %U %S'
for r in $(seq "$rounds"); do
	for cfg in plain spanprof perf plain_small pg_small spanprof_small uftrace_small; do
		case $cfg in
		plain) set -- "$prog" process big.txt ;;
		spanprof) set -- "$build/spanprof" record -o "sp$r" -- "$prog" process big.txt ;;
		perf) command -v perf >/dev/null || continue
			set -- perf record -q -F 999 -g -o "perf$r.data" -- "$prog" process big.txt ;;
		plain_small) set -- "$prog" process small.txt ;;
		pg_small) set -- ./inputs_matter_pg process small.txt ;;
		spanprof_small) set -- "$build/spanprof" record -o "sps$r" -- "$prog" process small.txt ;;
		uftrace_small) command -v uftrace >/dev/null || continue
			set -- uftrace record -d "uft$r.data" ./inputs_matter_pg process small.txt ;;
		esac
		# bash's time keyword: wall, and user + sys of the command and its children.
		read -r wall user sys < <({ time "$@" >/dev/null 2>&1; } 2>&1)
		cpu=$(echo "$user + $sys" | bc)
		printf '%-15s round %d: wall %.3f s, cpu %s s\n' "$cfg" "$r" "$wall" "$cpu"
		printf '%s %s %s\n' "$cfg" "$wall" "$cpu" >>"$results"
	done
done
echo "medians over $rounds round(s):"
for cfg in plain spanprof perf plain_small pg_small spanprof_small uftrace_small; do
	grep "^$cfg " "$results" >/dev/null || continue
	w=$(grep "^$cfg " "$results" | awk '{print $2}' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	c=$(grep "^$cfg " "$results" | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	printf '  %-15s wall %6.3f s  cpu %6.3f s\n' "$cfg" "$w" "$c"
done
echo "written: spanprof log $(du -sh sp1 | cut -f1) (big), $(du -sh sps1 | cut -f1) (small);" \
	"perf.data $( [ -f perf1.data ] && du -sh perf1.data | cut -f1 || echo -);" \
	"uftrace data $( [ -d uft1.data ] && du -sh uft1.data | cut -f1 || echo -) (small)"
