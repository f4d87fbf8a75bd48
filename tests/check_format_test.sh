#!/usr/bin/env bash
# Checks scripts/check-format.sh itself, in a scratch tree without .git (as
# unpacked from `git archive`): it finds and passes a formatted file, fails
# naming a misformatted one, skips build*/ trees and *.pb-c.* files, and
# fails when it finds no C file at all.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
check=$src/scripts/check-format.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spanprof-fmt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "check_format_test: $*" >&2
	exit 1
}

cp "$src/.clang-format" "$tmp/"
if bash "$check" "$tmp" >"$tmp/out" 2>&1; then fail "passed a tree with no C file"; fi
grep -q "no C files" "$tmp/out" || fail "no reason given for an empty tree"

mkdir -p "$tmp/libcore" "$tmp/build-x" "$tmp/merge"
printf 'int good(void)\n{\n\treturn 0;\n}\n' >"$tmp/libcore/good.c"
printf 'int  bad( void ){return 0;}\n' >"$tmp/build-x/ignored.c"
printf 'int  bad( void ){return 0;}\n' >"$tmp/merge/gen.pb-c.c"
bash "$check" "$tmp" >"$tmp/out" 2>&1 || fail "failed a formatted tree: $(cat "$tmp/out")"
grep -q "format: 1 files checked" "$tmp/out" || fail "wrong file count: $(cat "$tmp/out")"

printf 'int  bad( void ){return 0;}\n' >"$tmp/merge/bad.h"
if bash "$check" "$tmp" >"$tmp/out" 2>&1; then fail "passed a misformatted file"; fi
grep -q "merge/bad.h" "$tmp/out" || fail "did not name the file: $(cat "$tmp/out")"
echo "check_format_test: ok"
