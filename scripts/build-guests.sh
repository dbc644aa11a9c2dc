#!/usr/bin/env bash
# Builds every guest component in the workspace (examples and test guests)
# for wasm32-wasip2, once; cargo makes repeated calls no-ops.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
for manifest in examples/*/Cargo.toml tests/guests/*/Cargo.toml; do
  packages+=(-p "$(basename "$(dirname "$manifest")")")
done
cargo build --release --target wasm32-wasip2 "${packages[@]}"
