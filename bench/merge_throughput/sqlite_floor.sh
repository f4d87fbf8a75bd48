#!/bin/sh
# sqlite_floor.sh - the least time SQLite itself needs on this machine to
# write what a merge must write, without any of spanprof's code: the
# DESIGN.md contract tables of an existing merged database copied into a
# fresh one in primary-key order (INSERT INTO ... SELECT * of an identical
# table: SQLite's transfer optimization, which copies records without
# decoding them), then only the three indexes that span questions cannot do
# without (samples by span, spans by name, attributes by span). No
# span_ancestors, no stack_funcs, no other index: a lower bound on the
# SQLite part of any merge into this schema, whatever the code around it.
#
# Usage: bench/merge_throughput/sqlite_floor.sh MERGED.db EVENTS
#   MERGED.db  e.g. from: merge_throughput 10000000 --dir D --keep
#              (D/merge-bench-10000000/bench.db)
#   EVENTS     the number of events of the log it was merged from; the
#              script prints EVENTS / floor time as a ceiling on merge
#              throughput.
# Needs the sqlite3 shell (Debian package sqlite3).
set -eu
if [ $# -ne 2 ] || [ ! -f "$1" ]; then
	echo "usage: $0 MERGED.db EVENTS" >&2
	exit 2
fi
src=$(realpath "$1")
events=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The schema of the source's tables, verbatim, so the copies qualify for
# the transfer optimization; the pragmas are merge's (merge/cli/cmd_merge.c).
schema=$(sqlite3 "$src" "SELECT group_concat(sql, ';') || ';' FROM sqlite_master
  WHERE type = 'table' AND name IN ('processes', 'threads', 'spans', 'span_attrs',
  'samples', 'stacks', 'frames')")
sqlite3 "$tmp/floor.db" >"$tmp/out" <<EOF
PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-98304;
ATTACH '$src' AS src;
$schema
BEGIN;
.timer on
INSERT INTO samples SELECT * FROM src.samples;
INSERT INTO spans SELECT * FROM src.spans;
INSERT INTO span_attrs SELECT * FROM src.span_attrs;
INSERT INTO stacks SELECT * FROM src.stacks;
INSERT INTO frames SELECT * FROM src.frames;
INSERT INTO threads SELECT * FROM src.threads;
INSERT INTO processes SELECT * FROM src.processes;
PRAGMA cache_size=-32768;
CREATE INDEX samples_span ON samples(span_id);
CREATE INDEX spans_name ON spans(name);
CREATE INDEX span_attrs_span ON span_attrs(span_id, key);
COMMIT;
EOF
awk -v ev="$events" '
  /^Run Time:/ { n++; real += $4; cpu += $6 + $8; t[n] = $4 }
  END {
    split("samples spans span_attrs stacks frames threads processes cache" \
          " samples_span spans_name span_attrs_span commit", name, " ")
    for (i = 1; i <= n; i++)
      if (name[i] != "cache" && t[i] >= 0.01)
        printf "  %-16s %6.2f s\n", name[i], t[i]
    printf "sqlite floor: %.2f s wall, %.2f s CPU for %d events:" \
           " at most %.2f M events/s\n", real, cpu, ev, ev / real / 1e6
  }' "$tmp/out"
