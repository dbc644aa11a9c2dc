#!/usr/bin/env bash
# The compatibility tests: the real Python apify-client (and the apify SDK's
# storage clients) from PyPI against `wactor serve`.
#
#   scripts/compat-tests.sh [WACTOR_BIN]
#   scripts/compat-tests.sh --venv-only    (installs the pinned packages and stops)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$CARGO_TARGET_DIR/compat-venv"
# Kept under the target dir, rebuilt when the pinned versions change.
source scripts/venv.sh
ensure_venv "$venv" tests/compat/requirements.txt
[ "${1:-}" = --venv-only ] && exit 0
WACTOR_BIN="${1:-$CARGO_TARGET_DIR/debug/wactor}" timeout --kill-after=30s 15m "$venv/bin/pytest" -p no:cacheprovider tests/compat
