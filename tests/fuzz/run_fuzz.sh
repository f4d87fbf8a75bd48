#!/usr/bin/env bash
# Builds one libFuzzer target with clang and runs it for a bounded time on
# a scratch copy of its seed corpus (the ctest tests fuzz_*):
#   run_fuzz.sh SOURCE_DIR WORK_DIR TARGET SECONDS
# TARGET is a file tests/fuzz/TARGET.c; its seeds are tests/fuzz/corpus/TARGET.
# Exits 77 (ctest: skipped) when clang cannot build a libFuzzer binary here
# (Debian: clang with libclang-rt-dev, both in scripts/deps.sh); 0 when the
# time ran out with no finding; non-zero with the crashing input saved in
# WORK_DIR (its path printed by libFuzzer) otherwise.
set -euo pipefail
src=$1 work=$2 target=$3 seconds=$4
cc=${SPANPROF_FUZZ_CC:-clang}
mkdir -p "$work"
flags=(-std=gnu11 -g -O1 -Wall -Wextra -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -DSPANPROF_BUILDING
	-I"$src/libcore/format" -I"$src/libcore/common" -I"$src/libcore/read"
	-I"$src/tracer/include" -I"$src/tests/fuzz")

probe="$work/probe.c"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! command -v "$cc" >/dev/null || ! "$cc" -fsanitize=fuzzer "$probe" -o "$work/probe" 2>/dev/null; then
	echo "$target: skipped: $cc cannot build libFuzzer targets (install clang and libclang-rt-dev)"
	exit 77
fi

# The libcore code under test: the decoder, the reader and what they call.
core=("$src/libcore/format/codec.c" "$src/libcore/read/log_reader.c"
	"$src/libcore/common/clock.c" "$src/libcore/common/errors.c")
"$cc" "${flags[@]}" "$src/tests/fuzz/$target.c" "${core[@]}" -o "$work/$target" \
	$(pkg-config --libs liblz4) -lpthread -lm

# New inputs go to a scratch corpus; the checked-in seeds are only read.
corpus="$work/$target.corpus"
mkdir -p "$corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0
"$work/$target" -max_total_time="$seconds" -runs=50000000 -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 -artifact_prefix="$work/$target-" \
	"$corpus" "$src/tests/fuzz/corpus/$target"
