#!/bin/sh
# floor_ratio.sh - merge time as a ratio to SQLite's floor (sqlite_floor.sh),
# both measured in the same run, interleaved, so that the load of a shared
# machine weighs on both alike (issue 14, goal 1: merge <= 1.25x the floor).
#
# Usage: bench/merge_throughput/floor_ratio.sh BUILD_DIR EVENTS ROUNDS [SHAPE...] [-- SPANPROF...]
#   BUILD_DIR  a build with the merge_throughput bench
#   EVENTS     log size, e.g. 10000000
#   ROUNDS     merges (and floors) per binary and shape; medians are printed
#   SHAPE      mixed, spans, samples (merge_throughput --shape; default: spans samples)
#   SPANPROF   the binaries to compare (default: BUILD_DIR/spanprof), e.g. a
#              "before" build first: each round runs each binary in turn
#
# Per round and binary: 'spanprof merge' of the shape's log (wall time and
# peak RSS from /usr/bin/time), then sqlite_floor.sh on the database that
# merge wrote (a binary that keys spans differently gets the floor of its
# own tables). Logs are generated once per shape in $TMPDIR (default
# /tmp), kept there as floor-ratio-SHAPE/ and removed at the end.
set -eu
[ $# -ge 3 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
build=$(realpath "$1"); events=$2; rounds=$3; shift 3
shapes=""; bins=""
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; bins="$*"; break ;;
	*) shapes="$shapes $1"; shift ;;
	esac
done
[ -n "$shapes" ] || shapes="spans samples"
[ -n "$bins" ] || bins="$build/spanprof"
here=$(dirname "$(realpath "$0")")
tmp=${TMPDIR:-/tmp}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for shape in $shapes; do
	dir=$tmp/floor-ratio-$shape
	rm -rf "$dir"
	"$build/bench/merge_throughput/merge_throughput" "$events" --shape "$shape" --dir "$dir" \
		--keep >/dev/null
	log=$(ls "$dir"/merge-bench-"$events"/*.splog)
	n=$(sqlite3 "$dir/merge-bench-$events/bench.db" "SELECT (SELECT count(*) FROM samples) +
	    (SELECT value FROM meta WHERE key = 'span_events')")
	echo "shape $shape: $n events, log $(du -m "$log" | cut -f1) MB, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
	k=0
	for r in $(seq "$rounds"); do
		k=0
		for bin in $bins; do
			k=$((k + 1))
			/usr/bin/time -f "%e %M" -o "$dir/time" "$bin" merge -q --force -o "$dir/m$k.db" "$log"
			read -r wall rss <"$dir/time"
			floor=$("$here/sqlite_floor.sh" "$dir/m$k.db" "$n" | sed -n 's/^sqlite floor: \([0-9.]*\) s wall.*/\1/p')
			echo "$wall $floor $rss" >>"$dir/bin$k"
			printf '  round %d, %s: merge %.2f s (peak RSS %d MiB), floor %.2f s, ratio %.2f\n' \
				"$r" "$bin" "$wall" $((rss / 1024)) "$floor" "$(echo "$wall / $floor" | bc -l)"
		done
	done
	k=0
	for bin in $bins; do
		k=$((k + 1))
		m=$(cut -d' ' -f1 "$dir/bin$k" | median)
		f=$(cut -d' ' -f2 "$dir/bin$k" | median)
		printf '%s, %s: merge %.2f s, floor %.2f s (medians): %.2f x the floor, %.2f M events/s\n' \
			"$shape" "$bin" "$m" "$f" "$(echo "$m / $f" | bc -l)" "$(echo "$n / $m / 1000000" | bc -l)"
	done
	rm -rf "$dir"
done
