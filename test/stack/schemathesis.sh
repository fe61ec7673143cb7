#!/usr/bin/env bash
# schemathesis (from PyPI), for fuzzing the control API against its own OpenAPI document:
# `bash test/stack/schemathesis.sh run http://127.0.0.1:8278/openapi.json -H 'X-API-Key: …'`.
# It is pip-installed, pinned, into a virtualenv in the cache on first use (the machine's
# python3 with its venv module), then run from there. hypothesis is pinned too: newer
# releases break schemathesis 3.39 ("'many' object has no attribute 'more'").
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SCHEMATHESIS_VERSION=3.39.16
HYPOTHESIS_VERSION=6.115.0
ST_DIR="$CACHE_DIR/schemathesis-$SCHEMATHESIS_VERSION"

if [ ! -f "$ST_DIR/.installed" ]; then
  python="$(command -v python3 || true)"
  [ -n "$python" ] || die "schemathesis: python3 not found (it is on every machine of this kind; install Debian's python3 and python3-venv)"
  log "schemathesis: pip install schemathesis==$SCHEMATHESIS_VERSION hypothesis==$HYPOTHESIS_VERSION into $ST_DIR"
  # A venv records its own path in its scripts, so it is built where it will live; a
  # failed install is removed so the next run starts over.
  rm -rf "$ST_DIR"
  "$python" -m venv "$ST_DIR" >&2 || die "schemathesis: python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$ST_DIR/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" "hypothesis==$HYPOTHESIS_VERSION" >&2 \
    || { rm -rf "$ST_DIR"; die "schemathesis: pip install failed"; }
  touch "$ST_DIR/.installed"
fi

exec "$ST_DIR/bin/schemathesis" "$@"
