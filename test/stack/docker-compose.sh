#!/usr/bin/env bash
# Debian's docker-compose (v1.29, Python), for validating docker-compose.yml where
# there is no Docker engine: `bash test/stack/docker-compose.sh -f docker-compose.yml config`.
# `config` only parses, interpolates and validates the file against the Compose schema;
# it never talks to an engine. The package and the Python libraries it needs are
# fetched with `apt-get download` and unpacked into the cache (no root, no apt install),
# then run with the system's python3 (/usr/bin/python3).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

COMPOSE_PACKAGES=(docker-compose python3-docker python3-dockerpty python3-docopt python3-dotenv python3-jsonschema
  python3-attr python3-pyrsistent python3-texttable python3-websocket python3-distro python3-cached-property
  python3-requests python3-urllib3 python3-idna python3-chardet python3-certifi python3-charset-normalizer
  python3-yaml python3-six python3-packaging)
COMPOSE_DIR="$CACHE_DIR/docker-compose-$DOCKER_COMPOSE_DEB_VERSION"

if [ ! -f "$COMPOSE_DIR/usr/bin/docker-compose" ]; then
  debs="$CACHE_DIR/debs/docker-compose"
  mkdir -p "$debs"
  log "docker-compose: apt-get download ${COMPOSE_PACKAGES[*]}"
  (cd "$debs" && { apt-get download -q "${COMPOSE_PACKAGES[@]/docker-compose/docker-compose=$DOCKER_COMPOSE_DEB_VERSION}" >&2 2>&1 \
    || { apt-get -q update >&2 && apt-get download -q "${COMPOSE_PACKAGES[@]/docker-compose/docker-compose=$DOCKER_COMPOSE_DEB_VERSION}" >&2; }; }) \
    || die "docker-compose: apt-get download failed"
  rm -rf "$COMPOSE_DIR.tmp"
  mkdir -p "$COMPOSE_DIR.tmp"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$COMPOSE_DIR.tmp" || die "docker-compose: cannot unpack $deb"; done
  rm -rf "$COMPOSE_DIR"
  mv "$COMPOSE_DIR.tmp" "$COMPOSE_DIR"
fi

PYTHONPATH="$COMPOSE_DIR/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 "$COMPOSE_DIR/usr/bin/docker-compose" "$@"
