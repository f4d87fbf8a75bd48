#!/usr/bin/env bash
# Fails if any C source or header deviates from .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v -e '\.pb-c\.' -e '^third_party/' || true)
[ -n "$files" ] || { echo "no C files"; exit 1; }
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -l) files checked"
