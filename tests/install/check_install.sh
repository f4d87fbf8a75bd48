#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds a consumer
# against it (CMake package: spanprof::spanprof and ::spanprof_static; pkg-config), runs
# all three (shared, static, pkg-config) with the runtime on, and reads their logs back with the installed
# `spanprof dump`. Usage: check_install.sh BUILD_DIR SOURCE_DIR [CFLAGS]
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d /tmp/spanprof-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libspanprof.so' | head -n 1)")
[ -f "$tmp/prefix/include/spanprof.h" ] || { echo "header not installed"; exit 1; }
[ -x "$tmp/prefix/bin/spanprof" ] || { echo "spanprof command not installed"; exit 1; }
[ -f "$libdir/libspanprof.a" ] || { echo "static library not installed"; exit 1; }

cmake -S "$src/tests/install/consumer" -B "$tmp/cmake-build" \
	-DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_C_FLAGS="$cflags" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046,SC2086
cc $cflags "$src/tests/install/consumer/consumer.c" -o "$tmp/pc-consumer" \
	$(pkg-config --cflags --libs spanprof)

for prog in "$tmp/cmake-build/consumer" "$tmp/cmake-build/consumer_static" "$tmp/pc-consumer"; do
	out="$tmp/out-$(basename "$prog")"
	SPANPROF_OUT="$out" SPANPROF_MODE=off LD_LIBRARY_PATH="$libdir" "$prog"
	log=$(find "$out" -name '*.splog' | head -n 1)
	[ -n "$log" ] || { echo "$prog wrote no log"; exit 1; }
	dump=$("$tmp/prefix/bin/spanprof" dump "$log")
	grep -q 'installed' <<<"$dump" || { echo "$prog: span missing in $log"; exit 1; }
	grep -q 'answer' <<<"$dump" || { echo "$prog: attribute missing in $log"; exit 1; }
done
echo "install: header, libraries, CMake package and pkg-config file work"
