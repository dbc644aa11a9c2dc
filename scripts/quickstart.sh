#!/usr/bin/env bash
# Starts wactor with the example Actors ready: embedded sled storage in
# ./wactor-data, nothing else to run. Installs the wasm32-wasip2 target if needed;
# the JavaScript and Python examples are built with the toolchains `wactor push`
# installs on first use (Node.js/npm and python3 from the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
fi
scripts/build-guests.sh
cargo build --release --bin wactor
exec target/release/wactor serve --preload examples "$@"
