#!/usr/bin/env bash
# Fails if any C source or header deviates from .clang-format.
# Usage: scripts/check-format.sh [ROOT]   (default: this source tree)
#
# Files are found with find, not git, so that a tree without .git (a release
# tarball, `git archive`) checks itself the same way. Skipped, as in
# .gitignore: build trees at the top (build*/), hidden directories,
# node_modules/ and third_party/; and generated protobuf-c code (*.pb-c.*).
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
files=$(find . \( -path './build*' -o -path '*/.*' -o -name node_modules -o -name third_party \) \
	-prune -o -type f \( -name '*.c' -o -name '*.h' \) ! -name '*.pb-c.*' -print |
	sed 's|^\./||' | LC_ALL=C sort)
[ -n "$files" ] || {
	echo "format: no C files under $(pwd)"
	exit 1
}
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -l) files checked"
