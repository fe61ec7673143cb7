# shellcheck shell=bash
# PostgreSQL (Debian package) for the test stack: wal_level=logical, port 55432.
# Sourced by stack.sh after lib.sh.

PG_DIR="$STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
PG_URL="postgresql://sluice:sluice@127.0.0.1:$PG_PORT/sluice"

pg_bindir() {
  local d
  # Newest Debian-packaged major first, then whatever is on PATH.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  return 1
}

pg_install() {
  if ! pg_bindir >/dev/null; then
    apt_install postgresql
  fi
  PG_BIN="$(pg_bindir)" || die "PostgreSQL binaries (initdb, pg_ctl) not found after install"
}

pg_running() {
  pid_alive "$PG_DATA/postmaster.pid" postgres
}

pg_ready() {
  PGPASSWORD=sluice PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres \
    -c 'select 1' >/dev/null 2>&1
}

# pg_hba.conf (rewritten on every start): password logins over TCP, with or without TLS,
# from 127.0.0.1 and from 127.0.0.2 (the address the server certificate does not carry).
# The bootstrap superuser "sluice" has every attribute, REPLICATION included.
pg_write_hba() {
  as_user tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# sluice test stack
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
local   replication  all                  trust
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    all          all   $TLS_WRONG_HOST/32   scram-sha-256
host    replication  all   $TLS_WRONG_HOST/32   scram-sha-256
EOF
}

# TLS (optional for clients: the same port takes plain and TLS connections) with the
# stack CA, and the second listen address. In a file of its own, included last by
# postgresql.conf, so that a data dir made by an older stack.sh gets it too.
pg_write_tls_conf() {
  tls_ensure
  tls_copy_for "$PG_DIR/tls"
  as_user tee "$PG_DATA/sluice-stack.conf" >/dev/null <<EOF
# sluice test stack (rewritten by test/stack/postgres.sh on every start)
listen_addresses = '127.0.0.1,$TLS_WRONG_HOST'
ssl = on
ssl_cert_file = '$PG_DIR/tls/server.pem'
ssl_key_file = '$PG_DIR/tls/server-key.pem'
ssl_ca_file = '$PG_DIR/tls/ca.pem'
EOF
  if ! grep -q "^include_if_exists = 'sluice-stack.conf'" "$PG_DATA/postgresql.conf"; then
    printf "\ninclude_if_exists = 'sluice-stack.conf'\n" | as_user tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
}

pg_init() {
  [ -f "$PG_DATA/PG_VERSION" ] && return 0
  log "postgres: initdb in $PG_DATA"
  user_dir "$PG_DIR" "$PG_RUN"
  rm -rf "$PG_DATA"
  user_dir "$PG_DATA"
  chmod 0700 "$PG_DATA"
  local pwfile="$PG_DIR/.pwfile"
  printf 'sluice\n' >"$pwfile"
  if is_root; then chown "$STACK_USER:" "$pwfile"; fi
  chmod 0600 "$pwfile"
  as_user "$PG_BIN/initdb" -D "$PG_DATA" -U sluice --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
    || { rm -f "$pwfile"; tail -n 20 "$PG_DIR/initdb.log" >&2; die "postgres: initdb failed; see $PG_DIR/initdb.log"; }
  rm -f "$pwfile"

  as_user tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# ---- sluice test stack ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
wal_sender_timeout = 60s
password_encryption = scram-sha-256
# test data only: trade durability against the OS crashing for speed
fsync = off
full_page_writes = off
synchronous_commit = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
EOF
}

# An override that names another server: the stack leaves this one alone. (An override
# equal to the stack's own address, as the test runner passes on, still means ours.)
pg_external() {
  [ -n "${SLUICE_TEST_POSTGRES_URL:-}" ] && [ "${SLUICE_TEST_POSTGRES_URL%/}" != "$PG_URL" ]
}

pg_up() {
  if pg_external; then
    log "postgres: SLUICE_TEST_POSTGRES_URL is set, not starting PostgreSQL"
    return 0
  fi
  pg_install
  ensure_stack_user
  if pg_running; then
    wait_until PostgreSQL "$PG_LOG" pg_running pg_ready
    log "postgres: already running on 127.0.0.1:$PG_PORT"
    return 0
  fi
  pg_init
  pg_write_hba
  pg_write_tls_conf
  require_free_port PostgreSQL "$PG_PORT"
  user_dir "$PG_RUN"
  log "postgres: starting ($("$PG_BIN/postgres" --version)) on 127.0.0.1:$PG_PORT, log $PG_LOG"
  if ! as_user "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$STACK_TIMEOUT" -s >/dev/null 9>&-; then
    tail -n 30 "$PG_LOG" >&2 || true
    die "PostgreSQL failed to start; see $PG_LOG"
  fi
  wait_until PostgreSQL "$PG_LOG" pg_running pg_ready
  if [ "$(PGPASSWORD=sluice "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres \
        -c "select count(*) from pg_database where datname = 'sluice'")" != 1 ]; then
    PGPASSWORD=sluice "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres \
      -c 'CREATE DATABASE sluice' >/dev/null
  fi
  log "postgres: ready"
}

pg_down() {
  if pg_external; then return 0; fi
  pg_running || return 0
  PG_BIN="$(pg_bindir)" || die "postgres: running but pg_ctl not found"
  log "postgres: stopping"
  # A fast shutdown waits for walsenders to flush to their clients; a CDC client that
  # stopped reading can hold it for wal_sender_timeout. After 20 s: immediate (crash-safe).
  as_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 20 -s 2>/dev/null \
    || as_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 -s \
    || stop_pid PostgreSQL "$PG_DATA/postmaster.pid" postgres 30
}

pg_url() { echo "${SLUICE_TEST_POSTGRES_URL:-$PG_URL}"; }

pg_is_up() {
  if pg_external; then return 0; fi
  pg_running
}
