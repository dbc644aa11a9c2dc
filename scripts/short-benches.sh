#!/usr/bin/env bash
# Every benchmark in its short mode (a few seconds each), so they keep
# working; their figures mean nothing here (debug build, a busy machine):
# full runs and the figures are in benches/RESULTS.md.
#
#   scripts/short-benches.sh EXECUTABLES_TSV
# The TSV (kind, name, path, dir) is what scripts/test.sh wrote from cargo's build.
set -euo pipefail
cd "$(dirname "$0")/.."
executables="$1"
short_bench() {
  local exe
  exe="$(awk -F'\t' -v n="$1" '$1 == "bench" && $2 == n { print $3 }' "$executables")"
  [ -n "$exe" ] || { echo "no bench $1 in $executables"; exit 1; }
  local start=$SECONDS
  echo "-- $1 ${*:2}"
  timeout --kill-after=10s 10m "$exe" --bench "${@:2}"
  echo "-- $1 took $((SECONDS - start)) s"
}
short_bench e2e --runs 20
short_bench standby --no-wasmtime --cold 20 --secs 1
short_bench concurrent --runs 200 --requests 50
short_bench busy_guests --guests 4 --requests 50
short_bench durability --trials 1
short_bench charging --charges 500 --runs 20
short_bench actors --calls 20 --waiting 20 --dispatches 100
short_bench exports --items 2000
if [ "${WACTOR_REQUIRE_DOCKER:-}" = 1 ]; then short_bench executors --runs 2; fi
# Rust, JavaScript and Python side by side (the toolchains and builds from the tests' cache).
echo "-- languages.sh --short --no-containers"
start=$SECONDS
WACTOR_BIN="$CARGO_TARGET_DIR/debug/wactor" WACTOR_CACHE_DIR="$WACTOR_TEST_CACHE_DIR" timeout 10m benches/languages.sh --short --no-containers
echo "-- languages.sh took $((SECONDS - start)) s"
