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
# The venv is kept under the target dir and rebuilt when the pinned versions change.
wanted="$(sha256sum tests/compat/requirements.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/compat/requirements.txt
  echo "$wanted" > "$venv/requirements.sha256"
fi
[ "${1:-}" = --venv-only ] && exit 0
WACTOR_BIN="${1:-$CARGO_TARGET_DIR/debug/wactor}" timeout --kill-after=30s 15m "$venv/bin/pytest" -p no:cacheprovider tests/compat
