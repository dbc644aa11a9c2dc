# Sourced by the test scripts: ensure_venv DIR REQUIREMENTS makes a venv with
# the pinned packages under the target dir, rebuilt only when the file changes.
ensure_venv() {
  local venv="$1" requirements="$2" wanted
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$venv/requirements.sha256"
  fi
}
