#!/usr/bin/env bash
# The main job: installs dependencies, builds, records the quickstart example
# (an unmodified run under `spanprof record`), merges its log into SQLite and
# prints the hot functions inside each "parse" span, grouped by input kind.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/build.sh build

out=build/demo
rm -rf "$out"
mkdir -p "$out"
./build/spanprof record -o "$out/logs" -- ./build/examples/quickstart/quickstart
./build/spanprof merge -o "$out/quickstart.db" "$out/logs"
./build/spanprof top "$out/quickstart.db" --span parse --by kind -n 3
echo
echo "database: $out/quickstart.db   try: ./build/spanprof query $out/quickstart.db \"SELECT name, count(*) FROM spans GROUP BY name\""
