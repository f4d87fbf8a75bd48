#!/usr/bin/env bash
# run_doc_commands.sh - runs every shell command shown in the documentation,
# so that the documentation cannot rot.
#
# Usage: run_doc_commands.sh BUILD_DIR SOURCE_DIR [FILE.md...]
#   Without files: README.md, docs/*.md and examples/*/README.md of SOURCE_DIR.
#
# The convention (also in docs/tutorial.md, "How the docs are tested"):
#   - A block fenced ```sh is run. Blocks fenced otherwise (```console,
#     ```text, ```c, ```sql, plain ```) are output or code, never run.
#   - A ```sh block right after a line <!-- docs-test: skip REASON --> is
#     not run (for commands that need apt, the network, or root on another
#     machine); the reason is printed.
#   - In README.md, the blocks above "## A five-minute tour" are not run:
#     they are the two set-up commands (apt-get, a full build and test run).
#   - Each document gets a fresh scratch directory; its blocks run in order,
#     each in its own `bash -e -o pipefail`, in that directory, so that a
#     later block sees the files an earlier one made. The directory holds
#     symbolic links to the build directory's spanprof, libspanprof.so*,
#     examples/ and bench/, so "./spanprof" and "examples/X/X" work as they
#     do in the build directory, and the build directory is first on PATH,
#     so "spanprof" works too. $SPANPROF_SOURCE_DIR names the source tree.
#   - Scratch directories live under $DOCS_SCRATCH (default BUILD_DIR/docs-tmp);
#     a document whose blocks all pass has its directory removed.
#   - A block fails the test when it exits non-zero or runs longer than
#     $DOCS_BLOCK_TIMEOUT seconds (default 120).
set -uo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
shift 2
timeout_s=${DOCS_BLOCK_TIMEOUT:-120}
scratch_root=${DOCS_SCRATCH:-"$build/docs-tmp"}

if (($# == 0)); then
	set -- "$src/README.md" "$src"/docs/*.md "$src"/examples/*/README.md
fi

# Prints the runnable ```sh blocks of one file as records:
# "@@BLOCK <line>" then the block's lines; "@@SKIP <line> <reason>" for a
# skipped block.
extract_blocks() {
	awk -v is_readme="$2" '
	BEGIN { in_block = 0; before_tour = (is_readme == "1"); skip = "" }
	/^## A five-minute tour/ { before_tour = 0 }
	in_block && /^[ \t]*```[ \t]*$/ { in_block = 0; next }
	in_block { if (run) print; next }
	/^[ \t]*```/ {
		lang = $0; sub(/^[ \t]*```/, "", lang); sub(/[ \t].*$/, "", lang)
		in_block = 1; run = 0
		if (lang == "sh") {
			if (before_tour) print "@@SKIP " NR " set-up command above the tour"
			else if (skip != "") print "@@SKIP " NR " " skip
			else { print "@@BLOCK " NR; run = 1 }
		}
		skip = ""
		next
	}
	/<!-- docs-test: skip/ {
		skip = $0; sub(/.*docs-test: skip[ \t]*/, "", skip); sub(/[ \t]*-->.*/, "", skip)
		if (skip == "") skip = "(no reason given)"
		next
	}
	/[^ \t]/ { skip = "" }
	' "$1"
}

# Scratch directory for one document, with the build's programs at hand.
make_scratch() {
	local dir="$scratch_root/$1"
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	local item
	for item in spanprof libspanprof.so libspanprof.so.0 examples bench; do
		[ -e "$build/$item" ] && ln -s "$build/$item" "$dir/$item"
	done
	echo "$dir"
}

failures=0
blocks_run=0

run_block() { # file line scratch blockfile
	local rc=0
	blocks_run=$((blocks_run + 1))
	echo "== $1:$2"
	sed 's/^/   | /' "$4"
	(cd "$3" && PATH="$build:$PATH" SPANPROF_SOURCE_DIR="$src" \
		timeout "$timeout_s" bash -e -o pipefail "$4") >"$4.out" 2>&1 || rc=$?
	sed 's/^/   > /' "$4.out" | head -n 40
	if ((rc != 0)); then
		echo "FAIL $1:$2 (exit $rc)"
		failures=$((failures + 1))
	fi
}

run_document() {
	local file=$1 rel=${1#"$src"/} is_readme=0
	[ "$rel" = README.md ] && is_readme=1
	local scratch
	scratch=$(make_scratch "$(echo "$rel" | tr '/' '_')") || {
		echo "FAIL $rel: no scratch directory"
		failures=$((failures + 1))
		return
	}
	local block="" line="" tmp="$scratch/.block" failed_before=$failures
	while IFS= read -r l; do
		case "$l" in
		"@@SKIP "*)
			echo "-- $rel:${l#@@SKIP } (not run)"
			;;
		"@@BLOCK "*)
			[ -n "$line" ] && run_block "$rel" "$line" "$scratch" "$block"
			line=${l#@@BLOCK }
			block="$tmp.$line"
			: >"$block"
			;;
		*) printf '%s\n' "$l" >>"$block" ;;
		esac
	done < <(extract_blocks "$file" "$is_readme")
	[ -n "$line" ] && run_block "$rel" "$line" "$scratch" "$block"
	# A passing document leaves nothing behind; a failing one keeps its files.
	((failures == failed_before)) && rm -rf "$scratch"
	return 0
}

for f in "$@"; do
	if [ ! -f "$f" ]; then
		echo "FAIL $f: no such file"
		failures=$((failures + 1))
		continue
	fi
	run_document "$f"
done

echo "docs: $blocks_run block(s) run, $failures failed"
((failures == 0))
