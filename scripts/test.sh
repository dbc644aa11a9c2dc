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
# Nothing of the run goes into the user's own cache.
export WACTOR_CACHE_DIR="$WACTOR_TEST_CACHE_DIR"

echo "== building guest components (wasm32-wasip2)"
scripts/build-guests.sh

# The Python venvs of the compatibility, fuzz and console tests (and Chromium) download while cargo compiles.
venvs_log="$CARGO_TARGET_DIR/test-venvs.log"
mkdir -p "$CARGO_TARGET_DIR"
{ scripts/compat-tests.sh --venv-only && scripts/fuzz-api.sh --venv-only && scripts/console-tests.sh --install-only; } >"$venvs_log" 2>&1 &
venvs_pid=$!

echo "== building the server, its tests and benchmarks"
# Every target of the workspace: the server's tests, the guest SDK's own, and
# the benchmarks. One cargo invocation, so features unify once and nothing
# is built twice; the test binaries are then run directly, a few at a time.
executables="$CARGO_TARGET_DIR/test-executables.tsv"
timeout --kill-after=30s 45m cargo test --workspace --all-targets --no-run --message-format=json-render-diagnostics |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        kind = "unit" if kind in ("lib", "bin", "cdylib", "rlib") else kind
        print(kind, m["target"]["name"], m["executable"], os.path.dirname(m["manifest_path"]), sep="\t")
' >"$executables"

wait "$venvs_pid" || { echo "installing the test venvs failed:"; cat "$venvs_log"; exit 1; }

echo "== running the tests (Rust test binaries, the apify-client compatibility tests, the API fuzzer, the benchmarks' short mode)"
job_file="$CARGO_TARGET_DIR/test-jobs.tsv"
filter=""
for arg in "$@"; do filter+=" $(printf %q "$arg")"; done
python3 - "$executables" "$filter" >"$job_file" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
extra = sys.argv[2]
# The slowest first, so the last to finish is a short one (seconds, measured on 2 cores).
slow = ["docker", "compat", "fuzz", "benches", "dev_loop", "promises", "js", "python", "hardening", "users", "exports", "standby"]
jobs = {}
for kind, name, exe, cwd in rows:
    if kind == "test":
        # An outer limit per binary: a hang fails the run instead of holding CI.
        jobs[name] = (cwd, f"timeout --kill-after=30s 20m {exe}{extra}")
units = " && ".join(f"(cd {cwd} && {exe}{extra})" for kind, name, exe, cwd in rows if kind == "unit")
jobs["unit"] = (".", units or "true")
if not extra:
    jobs["compat"] = (".", "scripts/compat-tests.sh")
    jobs["fuzz"] = (".", 'timeout --kill-after=30s 15m scripts/fuzz-api.sh "$CARGO_TARGET_DIR/debug/wactor" 8')
    jobs["benches"] = (".", f"scripts/short-benches.sh {sys.argv[1]}")
    jobs["console"] = (".", "scripts/console-tests.sh")
order = [n for n in slow if n in jobs] + [n for n in jobs if n not in slow]
for name in order:
    cwd, command = jobs[name]
    print(name, cwd, command, sep="\t")
PY
status=0
python3 scripts/run-jobs.py --jobs "${WACTOR_TEST_JOBS:-3}" --logs "$CARGO_TARGET_DIR/test-logs" "$job_file" || status=$?
summary
exit "$status"
