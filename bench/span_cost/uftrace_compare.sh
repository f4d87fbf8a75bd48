#!/bin/sh
# uftrace_compare.sh - uftrace's per-function cost on this machine, measured
# the way span_cost measures a span: one traced function called in a loop,
# timed in the program, bare vs under `uftrace record` (entry + exit both
# recorded, like sp_begin + sp_end). Needs uftrace (Debian package).
# Usage: bench/span_cost/uftrace_compare.sh [CALLS]
set -e
src=$(dirname "$0")/uftrace_loop.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -pg -o "$tmp/loop" "$src"
echo "bare (-pg, not traced):"
"$tmp/loop" "${1:-2000000}"
echo "under uftrace record (every call recorded):"
(cd "$tmp" && uftrace record -d "$tmp/uftrace.data" ./loop "${1:-2000000}")
