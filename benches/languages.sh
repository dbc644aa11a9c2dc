#!/usr/bin/env bash
# Rust, JavaScript and Python Actors side by side in one run of one server:
# component size, push time (build + precompile), batch run latency (hello,
# start -> SUCCEEDED), Standby per-request latency (every request is a fresh
# instance, so it is a cold start) and warm requests/s; then the same hello
# as a container on the real Apify SDK of its language (the Docker executor).
#
# Usage: benches/languages.sh [--short] [--no-containers]
#   WACTOR_BIN (default target/release/wactor); all traffic on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${WACTOR_BIN:-target/release/wactor}"
secs=5
containers=1
for arg in "$@"; do
  case "$arg" in
    --short) secs=1 ;;
    --no-containers) containers=0 ;;
  esac
done
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }

work=$(mktemp -d)
export WACTOR_CACHE_DIR="${WACTOR_CACHE_DIR:-$work/cache}"
port=$((20000 + RANDOM % 20000))
token=bench-token
"$bin" serve --listen "127.0.0.1:$port" --token "$token" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
export WACTOR_URL="http://127.0.0.1:$port" WACTOR_TOKEN="$token"

cat >"$work/run.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"name":"bench","count":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

# Push time without the toolchain's one-time install: it is installed first, and each timed push
# finds no cached build (a short run, in CI, keeps the cache: it checks the script, not the figures).
if [ "$secs" != 1 ]; then
  "$bin" push examples/js-hello >/dev/null 2>&1
  "$bin" push examples/py-hello >/dev/null 2>&1
fi

push() { # dir -> "bytes seconds"
  [ "$secs" = 1 ] || rm -rf "$WACTOR_CACHE_DIR/builds"
  local start end out
  start=$(date +%s.%N)
  out=$("$bin" push "$1" 2>&1) || { echo "push $1 failed: $out" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$(echo "$out" | grep -o '([0-9]* bytes)' | tr -dc 0-9) $(echo "$end - $start" | bc)"
}

latency() { # url lua connections -> "p50 p99 req/s"
  [ "$secs" = 1 ] || wrk -t1 -c"$3" -d1s --timeout 60s -s "$2" "$1" >/dev/null # warm-up
  wrk -t"$([ "$3" -gt 1 ] && echo 2 || echo 1)" -c"$3" -d"${4:-$secs}s" --timeout 60s --latency -s "$2" "$1" |
    awk '/ 50%/{p=$2} / 99%/{q=$2} /Requests\/sec/{r=$2} END{print p, q, r}'
}

echo "| Actor | language | component | push (build + precompile) | run p50 / p99 | Standby request p50 / p99 (cold instance) | Standby warm req/s (c64) |"
echo "|---|---|---:|---:|---:|---:|---:|"
row() { # language batch-dir batch-name standby-dir standby-name
  read -r bytes pushed < <(push "$2")
  read -r _ spushed < <(push "$4")
  read -r p50 p99 _ < <(latency "$WACTOR_URL/v2/acts/$3/runs?waitForFinish=60" "$work/run.lua" 1)
  read -r sp50 sp99 _ < <(latency "$WACTOR_URL/standby/me~$5/hello" "$work/get.lua" 1)
  read -r _ _ rps < <(latency "$WACTOR_URL/standby/me~$5/hello" "$work/get.lua" 64)
  printf '| %s | %s | %s KB | %.1f s (Standby %.1f s) | %s / %s | %s / %s | %s |\n' \
    "$3" "$1" "$((bytes / 1024))" "$pushed" "$spushed" "$p50" "$p99" "$sp50" "$sp99" "$rps"
}
row Rust examples/hello hello examples/standby-hello standby-hello
row "JavaScript (SpiderMonkey)" examples/js-hello js-hello examples/js-standby js-standby
row Python examples/py-hello py-hello examples/py-standby py-standby

[ "$containers" = 1 ] || exit 0
if ! docker info >/dev/null 2>&1; then
  echo "(no Docker daemon: the container rows are not measured)"
  exit 0
fi
# The same hello on the real Apify SDKs, the import changed back to `apify`.
docker image inspect wactor-test/js-sdk:1 >/dev/null 2>&1 || tests/docker/js-actor/build-image.sh wactor-test/js-sdk:1 >/dev/null
docker image inspect wactor-test/python-sdk:1 >/dev/null 2>&1 || tests/docker/python-actor/build-image.sh wactor-test/python-sdk:1 >/dev/null
container_actor() { # name base main-file main-source
  local d="$work/$1"
  mkdir -p "$d/.actor"
  cp examples/hello/.actor/input_schema.json "$d/.actor/"
  printf '{"actorSpecification":1,"name":"%s","version":"0.1","input":"./input_schema.json","dockerfile":"../Dockerfile"}\n' "$1" >"$d/.actor/actor.json"
  printf 'FROM %s\nCOPY %s /actor/%s\n' "$2" "$3" "$3" >"$d/Dockerfile"
  printf '%s' "$4" >"$d/$3"
  "$bin" push "$d" >/dev/null
}
container_actor js-hello-container wactor-test/js-sdk:1 main.mjs "$(sed "s/from 'wactor-sdk'/from 'apify'/" examples/js-hello/src/main.js)"
container_actor py-hello-container wactor-test/python-sdk:1 main.py "$(sed 's/from wactor import/from apify import/' examples/py-hello/main.py; printf '\n\nimport asyncio\n\nasyncio.run(main())\n')"
echo
# 4096 MB: a container gets CPU in proportion to its memory (one core per 4 GB, as on Apify), and
# at the default 256 MB Node.js and Python take seconds to import their SDK; a component is not throttled.
echo "| the same hello as a container (real Apify SDK, 4096 MB = one core) | run p50 / p99 | runs/s sequential |"
echo "|---|---:|---:|"
for name in js-hello-container py-hello-container; do
  # A container start takes a large part of a second: a longer window for a few dozen runs.
  read -r p50 p99 rps < <(latency "$WACTOR_URL/v2/acts/$name/runs?waitForFinish=60&memory=4096" "$work/run.lua" 1 $((secs * 4)))
  echo "| $name | $p50 / $p99 | $rps |"
done
