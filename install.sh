#!/usr/bin/env bash
# Installs farense-tui into ./.venv: Debian's OpenBLAS and tmux when we are root on Debian/Ubuntu
# (fast float32 matmuls on Linux; tmux for the terminal tests), then the package itself.
#   ./install.sh         the app
#   ./install.sh --dev   the app and what the tests need
set -euo pipefail
cd "$(dirname "$0")"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"

if [ "$(uname -s)" = "Linux" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    pkgs="libopenblas0-pthread tmux"
    [ -n "$extra" ] && pkgs="$pkgs golang-go"  # the Ollama TEMPLATE test renders it with Go's text/template
    python3 -m venv --help >/dev/null 2>&1 && python3 -c "import ensurepip" 2>/dev/null || pkgs="$pkgs python3-venv"
    missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
      echo "== apt-get install $missing"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
  elif ! ls /usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3 >/dev/null 2>&1; then
    echo "note: for fast CPU training install OpenBLAS: sudo apt-get install libopenblas0-pthread"
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
echo "== pip install -e .$extra"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".$extra"
echo "== installed: run .venv/bin/farense-tui (or: source .venv/bin/activate; farense-tui)"
