#!/usr/bin/env bash
# Installs what spanprof needs to build, run and test, from Debian's archive.
# Idempotent: runs apt-get only when something is missing. Needs root.
set -euo pipefail

packages=(
	build-essential cmake pkg-config git
	liblz4-dev lz4 libsqlite3-dev sqlite3 libunwind-dev libdw-dev libelf-dev
	zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev
	libcmocka-dev clang-format binutils
	clang libclang-rt-dev # libFuzzer targets (tests/fuzz)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "spanprof: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
