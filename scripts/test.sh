#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind: installs what it
# needs (the wasm32-wasip2 target), builds the guest components once, then
# runs every test against real servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# One target dir for the server, the tests and the guests.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
fi

echo "== Docker for the container executor's tests (docker.io, busybox-static; no registry needed), wrk for the Standby bench"
if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    packages=(docker.io busybox-static wrk)
    apt-get install -y "${packages[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${packages[@]}" >/dev/null; }
  fi
fi
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  dockerd --bridge=none --iptables=false --ip6tables=false >"${TMPDIR:-/tmp}/wactor-dockerd.log" 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
# As root the script can install and start dockerd, so the Docker tests must
# run (CI runs as root); elsewhere they run when a daemon answers.
if [ "$(id -u)" = 0 ] || docker info >/dev/null 2>&1; then
  export WACTOR_REQUIRE_DOCKER=1
else
  echo "   (no Docker daemon and not root: the Docker executor tests will be skipped, and counted below)"
fi
# Tests that cannot run here write why into this file; the summary prints it.
export WACTOR_SKIPPED_FILE="$CARGO_TARGET_DIR/skipped-tests.txt"
rm -f "$WACTOR_SKIPPED_FILE"
summary() {
  if [ -s "$WACTOR_SKIPPED_FILE" ]; then
    echo "== $(sort -u "$WACTOR_SKIPPED_FILE" | wc -l) test(s) SKIPPED:"
    sort -u "$WACTOR_SKIPPED_FILE" | sed 's/^/   /'
  else
    echo "== no test skipped"
  fi
}

# JavaScript and Python Actors are built with toolchains that `wactor push`
# installs on first use (npm: componentize-js, esbuild; PyPI: componentize-py):
# one cache for the whole run, empty at its start, so the install is tested too.
for tool in node npm python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is needed to build the JavaScript and Python Actors"; exit 1; }
done
export WACTOR_TEST_CACHE_DIR="$CARGO_TARGET_DIR/wactor-test-cache"
rm -rf "$WACTOR_TEST_CACHE_DIR"

echo "== building guest components (wasm32-wasip2)"
scripts/build-guests.sh

echo "== running Rust tests"
# An outer limit: a hang fails the run instead of holding CI.
# Every target of the workspace: the server's tests, the guest SDK's own, and
# the benchmarks (built, not run: they return at once without --bench).
timeout --kill-after=30s 45m cargo test --workspace --all-targets "$@"

echo "== benchmarks, short mode (a few seconds each, so they keep working; full runs: benches/RESULTS.md)"
# Built by the test run above (test profile); the figures of a short debug run mean nothing.
short_bench() { timeout --kill-after=10s 10m cargo test --quiet --bench "$1" -- --bench "${@:2}"; }
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
WACTOR_BIN="$CARGO_TARGET_DIR/debug/wactor" WACTOR_CACHE_DIR="$WACTOR_TEST_CACHE_DIR" timeout 10m benches/languages.sh --short --no-containers

echo "== compatibility tests with the real Python apify-client"
venv="$CARGO_TARGET_DIR/compat-venv"
# The venv is kept under the target dir and rebuilt when the pinned versions change.
wanted="$(sha256sum tests/compat/requirements.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/compat/requirements.txt
  echo "$wanted" > "$venv/requirements.sha256"
fi
cargo build --bin wactor
WACTOR_BIN="$CARGO_TARGET_DIR/debug/wactor" timeout --kill-after=30s 15m "$venv/bin/pytest" -p no:cacheprovider tests/compat

echo "== fuzzing the API against its OpenAPI document (schemathesis: no 5xx, every answer as documented)"
timeout --kill-after=30s 15m scripts/fuzz-api.sh "$CARGO_TARGET_DIR/debug/wactor" 8
summary
