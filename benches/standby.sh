#!/usr/bin/env bash
# Standby benchmark: the standby-hello example served by wactor and by
# `wasmtime serve` (wasmtime-cli 48.0.8), side by side, over loopback.
#
# `wasmtime serve` has no wactor:actor imports, so it gets the very same
# standby-hello component with a stub plugged into those imports by `wac plug`
# (benches/wactor-stub: every storage call fails; the benchmarked echo path
# never calls one). Installs wrk, wasmtime-cli and wac-cli if missing.
#
# Usage: benches/standby.sh [--cold N] [--secs S]
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/bench-tools
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
[ -x "$tools/bin/wasmtime" ] || cargo install wasmtime-cli --version 48.0.8 --locked --root "$tools"
[ -x "$tools/bin/wac" ] || cargo install wac-cli --locked --root "$tools"
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --target wasm32-wasip2 -p standby-hello -p wactor-stub
out=target/wasm32-wasip2/release
"$tools/bin/wac" plug "$out/standby_hello.wasm" --plug "$out/wactor_stub.wasm" -o "$tools/standby_hello_plugged.wasm"
cargo bench --bench standby -- --wasmtime "$tools/bin/wasmtime" --wasmtime-component "$tools/standby_hello_plugged.wasm" "$@"
