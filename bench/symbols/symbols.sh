#!/bin/sh
# bench/symbols/symbols.sh - the time to the first answer on an unmodified
# CPython: 'spanprof merge' + 'spanprof top' with an empty symbol cache
# (cold), with the cache a merge left (warm), and with --no-cache, against
# 'perf report --stdio' on a 'perf record -g' of the same workload. Prints
# the medians and their ratios, all measured in this one run, interleaved
# (one round = one of each), so that a load on the machine weighs on all.
#
# usage: bench/symbols/symbols.sh BUILD_DIR [ROUNDS]
#   PYTHON=/path/to/python3 picks the interpreter (default: python3 on
#   PATH, resolved to the real executable, so that pyenv shims are not
#   what is measured). The figure that matters is with a libpython that
#   has DWARF (pyenv and most source builds do; Debian's python3 is
#   stripped, its symbols come from .symtab and cost nothing).
#   BASELINE=OTHER_BUILD_DIR adds a row for another build's merge + top
#   (for example the commit before a change, from 'git archive').
# Needs perf (Debian linux-perf) for the perf rows: without it they are
# skipped and the ratios are not printed.
set -eu
BUILD=${1:?usage: symbols.sh BUILD_DIR [ROUNDS]}
ROUNDS=${2:-5}
SPANPROF=$BUILD/spanprof
PY=$(${PYTHON:-python3} -c 'import sys; print(sys.executable)')
WORK=$(mktemp -d /tmp/spanprof-symbols.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SCRIPT="$WORK/work.py"
# CPU-bound for ~2.5 s of CPU time: ~2,500 samples at 999 Hz.
cat >"$SCRIPT" <<'EOF'
import time
t = time.process_time()
def f(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
while time.process_time() - t < 2.5:
    f(10000)
EOF

now() { date +%s.%N; }
# median of the numbers on stdin
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "python: $PY"
LIBPY=$(ldd "$PY" | awk '/libpython/ {print $3}')
for f in "$PY" $LIBPY; do
	printf '  %s: %s\n' "$f" "$(readelf -S "$f" | grep -q debug_info && echo DWARF || echo 'no DWARF')"
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

"$SPANPROF" record -o "$WORK/rec" -F 999 -- "$PY" "$SCRIPT" >/dev/null 2>&1
HAVE_PERF=0
if command -v perf >/dev/null 2>&1 &&
	perf record -g -F 999 -o "$WORK/perf.data" -- "$PY" "$SCRIPT" >/dev/null 2>&1; then
	HAVE_PERF=1
else
	echo "perf missing or refused (perf_event_paranoid?): perf rows skipped"
fi

# merge + top; $1 = cache directory, $2 = extra merge flags, $3 = the
# spanprof binary (default ours); prints seconds
merge_top() {
	bin=${3:-$SPANPROF}
	t0=$(now)
	XDG_CACHE_HOME=$1 "$bin" merge -q -f $2 -o "$WORK/out.db" "$WORK/rec" 2>/dev/null &&
		"$bin" top "$WORK/out.db" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

perf_report() {
	t0=$(now)
	perf report -i "$WORK/perf.data" --stdio >/dev/null 2>&1
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

: >"$WORK/cold"
: >"$WORK/warm"
: >"$WORK/nocache"
: >"$WORK/perf"
: >"$WORK/baseline"
XDG_CACHE_HOME="$WORK/warm-cache" "$SPANPROF" merge -q -f -o "$WORK/out.db" "$WORK/rec" 2>/dev/null
for r in $(seq "$ROUNDS"); do
	rm -rf "$WORK/cold-cache"
	merge_top "$WORK/cold-cache" "" >>"$WORK/cold"
	merge_top "$WORK/warm-cache" "" >>"$WORK/warm"
	merge_top "$WORK/nocache-unused" "--no-cache" >>"$WORK/nocache"
	[ $HAVE_PERF = 1 ] && perf_report >>"$WORK/perf"
	[ -n "${BASELINE:-}" ] && merge_top "$WORK/baseline-cache" "" "$BASELINE/spanprof" \
		>>"$WORK/baseline"
	:
done

SAMPLES=$("$SPANPROF" query "$WORK/out.db" "SELECT count(*) FROM samples" | tail -1 | tr -d ' ')
STATS=$(XDG_CACHE_HOME="$WORK/warm-cache" SPANPROF_MERGE_TIMING=1 "$SPANPROF" merge -q -f \
	-o "$WORK/out.db" "$WORK/rec" 2>&1 | grep symbols | sed 's/.*symbols *//')
COLD=$(median <"$WORK/cold")
WARM=$(median <"$WORK/warm")
NOCACHE=$(median <"$WORK/nocache")
echo "samples: $SAMPLES; warm merge: $STATS; $ROUNDS rounds, medians"
printf '  %-34s %8.3f s\n' "merge + top, cache empty (cold)" "$COLD"
printf '  %-34s %8.3f s\n' "merge + top, cache warm" "$WARM"
printf '  %-34s %8.3f s\n' "merge --no-cache + top" "$NOCACHE"
[ -n "${BASELINE:-}" ] &&
	printf '  %-34s %8.3f s\n' "merge + top, $BASELINE" "$(median <"$WORK/baseline")"
if [ $HAVE_PERF = 1 ]; then
	PERF=$(median <"$WORK/perf")
	printf '  %-34s %8.3f s\n' "perf report --stdio" "$PERF"
	printf 'ratios to perf report: cold %.2fx, warm %.2fx, --no-cache %.2fx\n' \
		"$(echo "$COLD / $PERF" | bc -l)" "$(echo "$WARM / $PERF" | bc -l)" \
		"$(echo "$NOCACHE / $PERF" | bc -l)"
fi
