#!/usr/bin/env bash
# check_convention.sh - proves that run_doc_commands.sh can fail: on
# fixture documents it must run ```sh blocks in order in one directory, not
# run ```console/```text blocks, blocks after a docs-test skip marker, or
# README.md's blocks above the tour, and report a failing block.
# Usage: check_convention.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
runner="$(dirname "$0")/run_doc_commands.sh"
fix=$(mktemp -d)
trap 'rm -rf "$fix"' EXIT
mkdir -p "$fix/docs"

cat >"$fix/README.md" <<'MD'
# fixture
```sh
exit 3   # set-up command above the tour: never run
```
## A five-minute tour
```sh
echo one > made_by_first_block
test -x ./spanprof && spanprof --help > /dev/null
```
```console
$ exit 4
```
<!-- docs-test: skip needs the network -->
```sh
exit 5
```
```sh
test "$(cat made_by_first_block)" = one
```
MD
cat >"$fix/docs/bad.md" <<'MD'
```text
not a command
```
```sh
false
```
MD

export DOCS_SCRATCH="$fix/scratch" # never the real documents' scratch dirs
out=$(bash "$runner" "$build" "$fix" "$fix/README.md")
echo "$out"
grep -q "docs: 2 block(s) run, 0 failed" <<<"$out"
grep -q "README.md:14 needs the network (not run)" <<<"$out"
grep -q "README.md:2 set-up command above the tour (not run)" <<<"$out"

if out=$(bash "$runner" "$build" "$fix" "$fix/docs/bad.md"); then
	echo "a failing block was not reported" >&2
	exit 1
fi
echo "$out"
grep -q "FAIL docs/bad.md:4" <<<"$out"
echo "convention ok"
