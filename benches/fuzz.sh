#!/usr/bin/env bash
# Longer runs of the property tests over every parser a client or a guest
# reaches (tests/fuzz_parsers.rs): CI runs proptest's default 256 cases per
# property, this runs many more. Usage: benches/fuzz.sh [cases] (default 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
PROPTEST_CASES="$cases" cargo test --release --test fuzz_parsers -- --test-threads 2
