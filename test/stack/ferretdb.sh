# shellcheck shell=bash
# FerretDB (MongoDB wire protocol, PostgreSQL backend) for the test stack, port 57017,
# and TLS (the stack's server certificate) on 57019.
# Sourced by stack.sh after lib.sh.
#
# Built from the module source with the machine's Go. Not `go install …@v1.24.2`: that
# needs the proxy's version list for its deprecation check (not served by our registry
# mirror), and the module zip lacks build/version/version.txt, without which the binary
# panics at start. So: `go mod download` the exact version, copy it, write version.txt,
# `go build`.

FERRETDB_DIR="$STATE_DIR/ferretdb"
FERRETDB_LOG="$FERRETDB_DIR/ferretdb.log"
FERRETDB_PID="$FERRETDB_DIR/ferretdb.pid"
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb"
FERRETDB_URL="mongodb://127.0.0.1:$FERRETDB_PORT"

ferretdb_go_env() {
  export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build" GOPATH="$CACHE_DIR/go/path"
  export GOTOOLCHAIN=local GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0
}

# The binary says it is $FERRETDB_VERSION. Its output is read whole before matching: with
# pipefail, `--version | grep -q` fails when grep exits first and the binary gets SIGPIPE
# (seen under load: a good binary rebuilt, then "does not report" after the build).
ferretdb_is_version() {
  local out
  out="$("$FERRETDB_BIN" --version 2>/dev/null)" || return 1
  grep -qx "version: $FERRETDB_VERSION" <<<"$out"
}

ferretdb_install() {
  if [ -x "$FERRETDB_BIN" ] && ferretdb_is_version; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "ferretdb: Go is needed to build FerretDB $FERRETDB_VERSION (install golang)"
  log "ferretdb: building FerretDB $FERRETDB_VERSION with $(go version) (a few minutes the first time)"
  local buildlog="$CACHE_DIR/ferretdb-build.log" src="$CACHE_DIR/ferretdb-src" dir
  mkdir -p "$CACHE_DIR/bin"
  (
    set -euo pipefail
    ferretdb_go_env
    cd "$CACHE_DIR"
    dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$dir" ] && [ -d "$dir" ]
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    echo "sluice-test-stack" >"$src/build/version/package.txt"
    cd "$src"
    go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb
    mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
    rm -rf "$src"
  ) >"$buildlog" 2>&1 || { tail -n 30 "$buildlog" >&2; die "ferretdb: build failed; see $buildlog"; }
  ferretdb_is_version || die "ferretdb: built binary does not report $FERRETDB_VERSION; see $buildlog"
}

ferretdb_running() { pid_alive "$FERRETDB_PID" ferretdb; }

ferretdb_ready() {
  # /debug/readyz connects to the listener and pings the backend.
  curl -fsS --max-time 2 "http://127.0.0.1:$FERRETDB_DEBUG_PORT/debug/readyz" >/dev/null 2>&1 \
    && port_open "$FERRETDB_PORT"
}

# An override that names another server: the stack leaves this one alone. (An override
# equal to the stack's own address, as the test runner passes on, still means ours.)
ferretdb_external() {
  [ -n "${SLUICE_TEST_MONGODB_URL:-}" ] && [ "${SLUICE_TEST_MONGODB_URL%/}" != "$FERRETDB_URL" ]
}

# A database `ferretdb` in the stack's PostgreSQL (created once), as FerretDB's backend.
ferretdb_backend_url() {
  pg_is_up || return 1
  local url psql
  url="$(pg_url)"
  psql="$(pg_bindir)/psql"
  local admin="${url%/*}/postgres"
  if [ "$("$psql" -X -At "$admin" -c "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" 2>/dev/null)" != "1" ]; then
    "$psql" -X -q "$admin" -c "CREATE DATABASE ferretdb" >/dev/null || return 1
  fi
  # An _id index FerretDB's own lookups can use (see the file for why).
  "$psql" -X -q -v ON_ERROR_STOP=1 "${url%/*}/ferretdb" -c "SET client_min_messages = warning" \
    -f "$STACK_LIB_DIR/ferretdb-id-index.sql" >/dev/null || return 1
  echo "${url%/*}/ferretdb"
}

ferretdb_up() {
  if ferretdb_external; then
    log "ferretdb: SLUICE_TEST_MONGODB_URL is set, not starting FerretDB"
    return 0
  fi
  if ferretdb_running; then
    wait_until FerretDB "$FERRETDB_LOG" ferretdb_running ferretdb_ready
    log "ferretdb: already running on 127.0.0.1:$FERRETDB_PORT"
    return 0
  fi
  ferretdb_install
  require_free_port FerretDB "$FERRETDB_PORT"
  require_free_port "FerretDB (debug)" "$FERRETDB_DEBUG_PORT"
  mkdir -p "$FERRETDB_DIR/state"
  # The PostgreSQL backend, in a database of the stack's own PostgreSQL: FerretDB v1's
  # SQLite backend does not use an index for _id lookups (measured on v1.24.2: a find
  # by _id on 20k documents took 1.2 s and each replaceOne upsert ~100 ms, against
  # 16 ms and ~1 ms on PostgreSQL), which made any realistic sink test crawl.
  local backend
  backend="$(ferretdb_backend_url)" || die "ferretdb: needs the stack's PostgreSQL (start it first: stack.sh up)"
  require_free_port "FerretDB (TLS)" "$FERRETDB_TLS_PORT"
  # TLS on a second listener, with the stack's server certificate. No --listen-tls-ca-file:
  # with it FerretDB requires a client certificate from every TLS client (mTLS only).
  tls_ensure
  log "ferretdb: starting $FERRETDB_VERSION on 127.0.0.1:$FERRETDB_PORT, TLS on 127.0.0.1:$FERRETDB_TLS_PORT (PostgreSQL backend), log $FERRETDB_LOG"
  setsid "$FERRETDB_BIN" \
    --handler=postgresql \
    --postgresql-url="$backend" \
    --listen-addr="127.0.0.1:$FERRETDB_PORT" \
    --listen-tls="127.0.0.1:$FERRETDB_TLS_PORT" \
    --listen-tls-cert-file="$TLS_CERT" \
    --listen-tls-key-file="$TLS_KEY" \
    --state-dir="$FERRETDB_DIR/state" \
    --debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" \
    --telemetry=disable \
    --log-level=info \
    >>"$FERRETDB_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$FERRETDB_PID"
  wait_until FerretDB "$FERRETDB_LOG" ferretdb_running ferretdb_ready
  log "ferretdb: ready"
}

ferretdb_down() {
  if ferretdb_external; then return 0; fi
  stop_pid FerretDB "$FERRETDB_PID" ferretdb 20
}

ferretdb_url() { echo "${SLUICE_TEST_MONGODB_URL:-$FERRETDB_URL}"; }
# The TLS listener (the stack's own FerretDB only).
ferretdb_tls_url() { echo "mongodb://127.0.0.1:$FERRETDB_TLS_PORT/?tls=true"; }

ferretdb_is_up() {
  if ferretdb_external; then return 0; fi
  ferretdb_running
}
