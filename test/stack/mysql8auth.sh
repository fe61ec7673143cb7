#!/usr/bin/env bash
# A MySQL-protocol server whose accounts authenticate with caching_sha2_password (the
# default of MySQL 8.0+ and, with mysql_native_password disabled, the only password plugin
# of a default MySQL 8.4), for client handshake tests. No MySQL 8 server package is
# reachable from this machine's registries; this is a tiny Go program (mysql8auth/main.go)
# on the server package of github.com/go-mysql-org/go-mysql v1.9.1, built through the Go
# module proxy. It speaks the handshake (fast path, full authentication over TLS and over
# plain TCP with the RSA public-key exchange) and a few fixed queries: no storage, no
# binlog. Not part of `stack.sh up`: only the tests that need it start it, and it stays up
# (test files run in parallel, so none stops what another may be using); `stack.sh down`
# stops it.
#
#   bash test/stack/mysql8auth.sh up               build (cached) and start it
#   bash test/stack/mysql8auth.sh down             stop it
#   bash test/stack/mysql8auth.sh status [--json]  where it is: url, CA, public key, up
#
# Port 53316 + SLUICE_STACK_PORT_OFFSET on 127.0.0.1; account sluice / sluice. State
# (certificates, log, pid) in $SLUICE_STACK_DIR/mysql8auth, binary in
# $SLUICE_STACK_CACHE/bin (rebuilt when mysql8auth/ changes).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MYSQL8AUTH_PORT=$((53316 + PORT_OFFSET))
MYSQL8AUTH_SRC="$HERE/mysql8auth"
MYSQL8AUTH_DIR="$STATE_DIR/mysql8auth"
MYSQL8AUTH_LOG="$MYSQL8AUTH_DIR/mysql8auth.log"
MYSQL8AUTH_PID="$MYSQL8AUTH_DIR/mysql8auth.pid"
MYSQL8AUTH_URL="mysql://sluice:sluice@127.0.0.1:$MYSQL8AUTH_PORT/sluice"

# The binary is named by a hash of its sources, so an edited main.go or go.sum rebuilds.
mysql8auth_bin() {
  local h
  h="$(cat "$MYSQL8AUTH_SRC/main.go" "$MYSQL8AUTH_SRC/go.mod" "$MYSQL8AUTH_SRC/go.sum" | sha256sum | cut -c1-12)"
  echo "$CACHE_DIR/bin/mysql8auth-$h"
}

mysql8auth_install() {
  local bin buildlog="$CACHE_DIR/mysql8auth-build.log"
  bin="$(mysql8auth_bin)"
  [ -x "$bin" ] && return 0
  command -v go >/dev/null 2>&1 || die "mysql8auth: Go is needed to build it (install golang)"
  log "mysql8auth: building with $(go version) (about a minute the first time)"
  mkdir -p "$CACHE_DIR/bin"
  (
    set -euo pipefail
    export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build" GOPATH="$CACHE_DIR/go/path"
    export GOTOOLCHAIN=local GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" CGO_ENABLED=0
    cd "$MYSQL8AUTH_SRC"
    go build -trimpath -o "$bin.tmp" .
    mv -f "$bin.tmp" "$bin"
  ) >"$buildlog" 2>&1 || { tail -n 30 "$buildlog" >&2; die "mysql8auth: build failed; see $buildlog"; }
}

mysql8auth_running() { pid_alive "$MYSQL8AUTH_PID" mysql8auth; }
mysql8auth_ready() { port_open "$MYSQL8AUTH_PORT"; }

mysql8auth_up() {
  # Two test files may ask for it at once: one start at a time (stack.sh up/down take the same lock).
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 600 9 || die "mysql8auth: another stack script holds $STATE_DIR/.lock"
  if mysql8auth_running; then
    wait_until mysql8auth "$MYSQL8AUTH_LOG" mysql8auth_running mysql8auth_ready
    log "mysql8auth: already running on 127.0.0.1:$MYSQL8AUTH_PORT"
    return 0
  fi
  mysql8auth_install
  require_free_port mysql8auth "$MYSQL8AUTH_PORT"
  mkdir -p "$MYSQL8AUTH_DIR"
  log "mysql8auth: starting on 127.0.0.1:$MYSQL8AUTH_PORT, log $MYSQL8AUTH_LOG"
  setsid "$(mysql8auth_bin)" -listen "127.0.0.1:$MYSQL8AUTH_PORT" -dir "$MYSQL8AUTH_DIR" -users sluice:sluice \
    >>"$MYSQL8AUTH_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$MYSQL8AUTH_PID"
  wait_until mysql8auth "$MYSQL8AUTH_LOG" mysql8auth_running mysql8auth_ready
  log "mysql8auth: ready"
}

mysql8auth_down() { stop_pid mysql8auth "$MYSQL8AUTH_PID" mysql8auth 10; }

mysql8auth_status() {
  local up=false
  if mysql8auth_running; then up=true; fi
  if [ "${1:-}" = "--json" ]; then
    printf '{"url":"%s","ca":"%s","publicKey":"%s","log":"%s","up":%s}\n' "$MYSQL8AUTH_URL" \
      "$MYSQL8AUTH_DIR/ca.pem" "$MYSQL8AUTH_DIR/public-key.pem" "$MYSQL8AUTH_LOG" "$up"
    return 0
  fi
  printf 'mysql8auth %s %s\n' "$([ "$up" = true ] && echo up || echo down)" "$MYSQL8AUTH_URL"
}

case "${1:-}" in
  up) mysql8auth_up ;;
  down) mysql8auth_down ;;
  status) shift; mysql8auth_status "$@" ;;
  *) echo "usage: $0 up | down | status [--json]" >&2; exit 2 ;;
esac
