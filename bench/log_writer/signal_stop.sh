#!/bin/sh
# signal_stop.sh - what a run stopped by a signal keeps, with and without the
# fatal-signal handler's last drain (docs/api.md, "A program that dies of a
# signal"), and what that drain costs a dying process.
#
# Usage: bench/log_writer/signal_stop.sh BUILD_DIR [ROUNDS]
#   BUILD_DIR  a build with spanprof, examples/ and tests/tracer/
#   ROUNDS     runs per setting (default 3); the settings alternate
#
# Part 1: `spanprof record --duration 300ms` (SIGINT) of
# examples/slow_requests, then merge: spans kept and the time the samples
# cover, SPANPROF_FLUSH_ON_SIGNAL=0 and =1 in turn. Part 2: mean time from
# start to death of tests/tracer/tracer_fatal_prog term (a few events, then
# raise(SIGTERM)) over 200 runs, with and without the handler (each run
# includes starting a shell, the same in both).
set -eu
[ $# -ge 1 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
rounds=${2:-3}
cli=$build/spanprof
prog=$build/examples/slow_requests/slow_requests
fatal=$build/tests/tracer/tracer_fatal_prog
for f in "$cli" "$prog" "$fatal"; do
	[ -x "$f" ] || { echo "signal_stop: $f not built" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/signal-stop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "record --duration 300ms -- slow_requests (SIGINT), load $(cut -d' ' -f1 /proc/loadavg)"
echo "flush_on_signal  spans  samples_cover_ms"
i=0
while [ "$i" -lt "$rounds" ]; do
	for on in 0 1; do
		rm -rf "$tmp/run" "$tmp/run.db"
		SPANPROF_FLUSH_ON_SIGNAL=$on "$cli" record -o "$tmp/run" --duration 300ms -- "$prog" \
			>/dev/null 2>&1
		"$cli" merge -q -o "$tmp/run.db" "$tmp/run" >/dev/null 2>&1
		"$cli" query --csv "$tmp/run.db" "SELECT $on, count(*),
			(SELECT (max(ts_ns) - min(ts_ns)) / 1000000 FROM samples) FROM spans" |
			tail -n 1 | tr ',' ' ' | awk '{printf "%15s  %5s  %16s\n", $1, $2, $3}'
	done
	i=$((i + 1))
done

echo "start to death of tracer_fatal_prog term, mean of 200 runs"
for on in 1 0; do
	mkdir -p "$tmp/out"
	start=$(date +%s%N)
	n=0
	while [ "$n" -lt 200 ]; do
		# a shell of its own, so that "Terminated" goes to /dev/null
		SPANPROF_OUT=$tmp/out SPANPROF_FLUSH_ON_SIGNAL=$on \
			sh -c '"$0" term; true' "$fatal" 2>/dev/null
		n=$((n + 1))
	done
	end=$(date +%s%N)
	rm -rf "$tmp/out"
	echo "flush_on_signal=$on: $(( (end - start) / 200000 )) us per run"
done
