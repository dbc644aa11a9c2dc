#!/usr/bin/env bash
# Fuzzes the whole HTTP API with schemathesis against its own OpenAPI
# document (`GET /v2/openapi.json`), on a real `wactor serve` on 127.0.0.1
# with the example Actors: every operation, a bounded number of examples
# each (`-n`, default 8), the checks that no answer is a 5xx and that every
# answer matches the document (status, content type, schema).
#
#   scripts/fuzz-api.sh [WACTOR_BIN] [EXAMPLES]
#   scripts/fuzz-api.sh --venv-only    (installs schemathesis and stops)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bin="${1:-$CARGO_TARGET_DIR/debug/wactor}"
examples="${2:-8}"

venv="$CARGO_TARGET_DIR/fuzz-venv"
pinned="schemathesis==4.32.5"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/pinned" 2>/dev/null)" != "$pinned" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$pinned"
  echo "$pinned" > "$venv/pinned"
fi
[ "$bin" = --venv-only ] && exit 0

data="$(mktemp -d)"
out="$data/server.out"
token="fuzz-token"
# The Rust examples (the API is the same for every language; JS and Python builds would only slow the start).
preload=()
for manifest in examples/*/Cargo.toml; do preload+=(--preload "$(dirname "$manifest")"); done
"$bin" serve --listen 127.0.0.1:0 --token "$token" --data-dir "$data/db" "${preload[@]}" --preload tests/guests/probe >"$out" 2>"$data/server.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^wactor listening on //p' "$out" | head -1)"
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { echo "wactor did not start"; cat "$data/server.err"; exit 1; }

# Known names, so operations reach past "not found" too (a task is made for {task}).
python3 - "$url" "$token" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
body = json.dumps({"actId": "hello", "name": "fuzz-task", "input": {"name": "fuzz"}}).encode()
req = urllib.request.Request(f"{url}/v2/actor-tasks", data=body, method="POST",
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
cat > "$data/schemathesis.toml" <<TOML
[parameters]
actor = "hello"
task = "fuzz-task"
TOML

# Two workers are threads; before 3.13 CPython's AST constructor keeps its
# recursion depth per interpreter, so hypothesis parsing lambdas in two threads
# at once can fail with "AST constructor recursion depth mismatch" (CPython
# gh-106905), an error of the fuzzer, not of wactor. One worker there.
workers="$("$venv/bin/python" -c 'import sys; print(2 if sys.version_info >= (3, 13) else 1)')"

# Run from the scratch dir: schemathesis keeps its example cache in the working directory.
cd "$data"
"$venv/bin/schemathesis" --config-file "$data/schemathesis.toml" run "$url/v2/openapi.json" \
  -H "Authorization: Bearer $token" -n "$examples" -w "$workers" --request-timeout 70 --generation-deterministic \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
