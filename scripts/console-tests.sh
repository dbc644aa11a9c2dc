#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium and chromium-driver
# (installed here when missing, as root) driven by selenium from PyPI
# against `wactor serve`. Screenshots go to $CARGO_TARGET_DIR/console-screenshots.
#
#   scripts/console-tests.sh [WACTOR_BIN]
#   scripts/console-tests.sh --install-only    (the browser and the venv, then stops)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y chromium chromium-driver >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium chromium-driver >/dev/null; }
  else
    echo "console tests: no /usr/bin/chromium and chromedriver (apt-get install chromium chromium-driver), and not root to install them" |
      tee -a "${WACTOR_SKIPPED_FILE:-/dev/null}"
    exit 0
  fi
fi
venv="$CARGO_TARGET_DIR/console-venv"
# Kept under the target dir, rebuilt when the pinned versions change.
source scripts/venv.sh
ensure_venv "$venv" tests/console/requirements.txt
[ "${1:-}" = --install-only ] && exit 0
WACTOR_BIN="${1:-$CARGO_TARGET_DIR/debug/wactor}" timeout --kill-after=30s 10m "$venv/bin/pytest" -p no:cacheprovider tests/console
