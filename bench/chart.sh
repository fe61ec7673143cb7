#!/usr/bin/env bash
# Draws a benchmark's PNG chart with matplotlib (from PyPI), pip-installed, pinned, into a
# virtualenv in the stack's cache on first use, as test/stack/schemathesis.sh does; kept out
# of the daemon's dependencies. Usage: bash bench/chart.sh <results.json> <out.png>
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${SLUICE_STACK_CACHE:-${HOME:-/root}/.cache/sluice-stack}"
MATPLOTLIB_VERSION=3.10.9
VENV="$CACHE_DIR/matplotlib-$MATPLOTLIB_VERSION"

if [ ! -f "$VENV/.installed" ]; then
  python="$(command -v python3 || true)"
  [ -n "$python" ] || { echo "[bench] chart: python3 not found (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  echo "[bench] chart: pip install matplotlib==$MATPLOTLIB_VERSION into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE_DIR"
  "$python" -m venv "$VENV" >&2 || { echo "[bench] chart: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install -q --disable-pip-version-check "matplotlib==$MATPLOTLIB_VERSION" >&2 \
    || { rm -rf "$VENV"; echo "[bench] chart: pip install failed" >&2; exit 1; }
  touch "$VENV/.installed"
fi

exec "$VENV/bin/python" "$HERE/chart.py" "$@"
