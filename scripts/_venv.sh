# Sourced by scripts/test and scripts/demo: make "$VENV" hold this checkout installed
# with the extras in $1, and reinstall only when pyproject.toml changed since the last
# install (a stamp file in the venv records its hash), so a second run is fast and
# works offline. A fresh machine (or CI's fresh venv) gets the full install.
ensure_venv() {
    local extras=$1
    local stamp="$VENV/.httpx-resilient-installed-$extras"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(pwd)"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$VENV/bin/python" -c "import httpx_resilient" 2>/dev/null; then
        return 0
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]"
    printf '%s\n' "$want" >"$stamp"
}
