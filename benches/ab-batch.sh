#!/usr/bin/env bash
# Batch runs, A/B: the same load against two (or more) wactor binaries in
# turn, twice each, so a change is compared within one noisy session.
# Each binary serves examples/hello on 127.0.0.1; wrk POSTs
# /v2/actors/hello/runs?waitForFinish=60 (sequential, then 32 connections).
#
# Usage: benches/ab-batch.sh BEFORE_BIN AFTER_BIN [...]
#   (a before binary: `git worktree add /tmp/before <commit>` and
#   `cargo build --release` there, or a copy of target/release/wactor)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
lua=$(mktemp --suffix .lua)
trap 'rm -f "$lua"' EXIT
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
LUA
for round in 1 2; do
  for bin in "$@"; do
    data=$(mktemp -d)
    port=$((20000 + RANDOM % 20000))
    "$bin" serve --listen "127.0.0.1:$port" --token bench-token --preload examples/hello --data-dir "$data" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.2; done
    url="http://127.0.0.1:$port/v2/actors/hello/runs?waitForFinish=60"
    wrk -t1 -c4 -d2s -s "$lua" "$url" >/dev/null # warm-up
    seq=$(wrk -t1 -c1 -d5s --latency -s "$lua" "$url" | awk '/ 50%/{p=$2} /Requests\/sec/{r=$2} END{print "sequential p50 " p " (" r " runs/s)"}')
    # The server's own CPU time per run (utime + stime, in clock ticks), which
    # the machine's noise moves far less than the wall-clock figures.
    ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
    before=$(ticks)
    out=$(wrk -t2 -c32 -d8s -s "$lua" "$url")
    after=$(ticks)
    c32=$(echo "$out" | awk '/Requests\/sec/{print "32 connections " $2 " runs/s"}')
    runs=$(echo "$out" | awk '/requests in/{print $1}')
    cpu=$(awk -v t=$((after - before)) -v n="$runs" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", t / hz * 1e6 / n}')
    echo "round $round $bin: $seq, $c32, server CPU ${cpu} us per run"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
  done
done
