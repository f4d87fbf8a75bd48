#!/usr/bin/env bash
# Installs every dependency, builds spanprof twice (normal, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole ctest
# suite in both. The last lines printed are ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
if [ -f scripts/install-readers.sh ]; then
	bash scripts/install-readers.sh
fi

echo "== building (normal) and (asan+ubsan)"
# CI turns warnings into errors; a user's plain build does not (SPANPROF_WERROR).
bash scripts/build.sh build -DSPANPROF_WERROR=ON
bash scripts/build.sh build-asan -DSPANPROF_WERROR=ON -DSPANPROF_SANITIZE=ON

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
(cd build-asan && ctest --output-on-failure -j 2 --timeout 600)
echo "== tests (normal build)"
cd build && ctest --output-on-failure -j 2 --timeout 600
