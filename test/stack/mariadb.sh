# shellcheck shell=bash
# MariaDB (Debian package mariadb-server) for the test stack: binlog ROW / FULL, port 53306.
# Run with mariadb-install-db + mariadbd directly (never the system service), with its own
# defaults file so /etc/mysql is not read. Sourced by stack.sh after lib.sh.

MARIADB_DIR="$STATE_DIR/mariadb"
MARIADB_DATA="$MARIADB_DIR/data"
MARIADB_RUN="$MARIADB_DIR/run"
MARIADB_CNF="$MARIADB_DIR/my.cnf"
MARIADB_SOCK="$MARIADB_RUN/mariadb.sock"
MARIADB_PID="$MARIADB_RUN/mariadb.pid"
MARIADB_LOG="$MARIADB_DIR/mariadb.log"
MARIADB_URL="mysql://sluice:sluice@127.0.0.1:$MARIADB_PORT/sluice"

mariadb_bin() {
  local name="$1" p
  for p in "/usr/sbin/$name" "/usr/bin/$name"; do
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  command -v "$name"
}

mariadb_install() {
  if mariadb_bin mariadbd >/dev/null && mariadb_bin mariadb-install-db >/dev/null \
      && mariadb_bin mariadb >/dev/null && mariadb_bin mariadb-admin >/dev/null; then
    return 0
  fi
  local before=0
  if port_open 3306; then before=1; fi
  apt_install mariadb-server mariadb-client
  # The package must not leave a server of ours on the default port.
  if [ "$before" -eq 0 ] && port_open 3306; then
    log "mariadb: the package install started a server on 3306; stopping it"
    local pid
    pid="$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)"
    if [ -z "$pid" ]; then pid="$(pgrep -x mariadbd | head -n1 || true)"; fi
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      local i
      for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  mariadb_bin mariadbd >/dev/null || die "mariadb: mariadbd not found after installing mariadb-server"
}

mariadb_running() { pid_alive "$MARIADB_PID" mariadbd; }

# The server answers on its socket (the stack user logs in by unix socket peer auth).
mariadb_alive() {
  as_user "$(mariadb_bin mariadb-admin)" --no-defaults --protocol=socket -S "$MARIADB_SOCK" \
    --connect-timeout=2 -u "$STACK_USER" ping >/dev/null 2>&1
}

# The sluice user can log in over TCP.
mariadb_ready() {
  "$(mariadb_bin mariadb)" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" \
    --connect-timeout=2 -u sluice -psluice -N -e 'select 1' sluice >/dev/null 2>&1
}

mariadb_configure() {
  user_dir "$MARIADB_DIR" "$MARIADB_RUN" "$MARIADB_DIR/tmp"
  tls_ensure
  tls_copy_for "$MARIADB_DIR/tls"
  as_user tee "$MARIADB_CNF" >/dev/null <<EOF
# sluice test stack
[client]
port = $MARIADB_PORT
socket = $MARIADB_SOCK

[mariadbd]
datadir = $MARIADB_DATA
socket = $MARIADB_SOCK
pid-file = $MARIADB_PID
tmpdir = $MARIADB_DIR/tmp
port = $MARIADB_PORT
# 127.0.0.2 too: the address the server certificate does not carry (the wrong-host case)
bind-address = 127.0.0.1,$TLS_WRONG_HOST
skip-name-resolve
log-error = $MARIADB_LOG
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
# TLS with the stack CA, optional for clients (a user may still REQUIRE SSL)
ssl-ca = $MARIADB_DIR/tls/ca.pem
ssl-cert = $MARIADB_DIR/tls/server.pem
ssl-key = $MARIADB_DIR/tls/server-key.pem
max_connections = 300
# binlog for CDC
server_id = 1
log_bin = mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
expire_logs_days = 2
# test data only: speed over durability against OS crashes
innodb_buffer_pool_size = 128M
innodb_log_file_size = 64M
innodb_flush_log_at_trx_commit = 2
sync_binlog = 0
EOF
}

mariadb_init() {
  [ -d "$MARIADB_DATA/mysql" ] && return 0
  log "mariadb: mariadb-install-db in $MARIADB_DATA"
  rm -rf "$MARIADB_DATA"
  user_dir "$MARIADB_DATA"
  # root@localhost and $STACK_USER@localhost authenticate by unix socket peer only.
  if ! as_user "$(mariadb_bin mariadb-install-db)" --defaults-file="$MARIADB_CNF" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$STACK_USER" \
      --skip-test-db >"$MARIADB_DIR/install-db.log" 2>&1; then
    tail -n 30 "$MARIADB_DIR/install-db.log" >&2
    rm -rf "$MARIADB_DATA"
    die "mariadb: mariadb-install-db failed; see $MARIADB_DIR/install-db.log"
  fi
  touch "$MARIADB_DIR/.needs-bootstrap"
}

# Create the sluice user and database (as the stack user, over the socket).
mariadb_bootstrap() {
  [ -f "$MARIADB_DIR/.needs-bootstrap" ] || return 0
  log "mariadb: creating user sluice and database sluice"
  as_user "$(mariadb_bin mariadb)" --no-defaults --protocol=socket -S "$MARIADB_SOCK" -u "$STACK_USER" <<'EOF' \
    || die "mariadb: bootstrap SQL failed; see $MARIADB_LOG"
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'sluice'@'%' IDENTIFIED BY 'sluice';
CREATE USER IF NOT EXISTS 'sluice'@'localhost' IDENTIFIED BY 'sluice';
GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS sluice;
FLUSH PRIVILEGES;
EOF
  rm -f "$MARIADB_DIR/.needs-bootstrap"
}

# An override that names another server: the stack leaves this one alone. (An override
# equal to the stack's own address, as the test runner passes on, still means ours.)
mariadb_external() {
  [ -n "${SLUICE_TEST_MYSQL_URL:-}" ] && [ "${SLUICE_TEST_MYSQL_URL%/}" != "$MARIADB_URL" ]
}

mariadb_up() {
  if mariadb_external; then
    log "mariadb: SLUICE_TEST_MYSQL_URL is set, not starting MariaDB"
    return 0
  fi
  mariadb_install
  ensure_stack_user
  if mariadb_running; then
    wait_until MariaDB "$MARIADB_LOG" mariadb_running mariadb_ready
    log "mariadb: already running on 127.0.0.1:$MARIADB_PORT"
    return 0
  fi
  require_free_port MariaDB "$MARIADB_PORT"
  mariadb_configure
  mariadb_init
  local mariadbd
  mariadbd="$(mariadb_bin mariadbd)"
  log "mariadb: starting ($("$mariadbd" --version | sed 's/^.*Ver //')) on 127.0.0.1:$MARIADB_PORT, log $MARIADB_LOG"
  rm -f "$MARIADB_PID"
  as_user setsid -f "$mariadbd" --defaults-file="$MARIADB_CNF" >>"$MARIADB_DIR/mariadbd.out" 2>&1 </dev/null 9>&-
  # mariadbd writes its pid file once it is up; until then watch the process by name.
  wait_until MariaDB "$MARIADB_LOG" mariadb_starting mariadb_alive
  mariadb_bootstrap
  wait_until MariaDB "$MARIADB_LOG" mariadb_running mariadb_ready
  log "mariadb: ready"
}

# During start-up: alive if the pid file names a live mariadbd or, before it is written,
# a mariadbd with our defaults file exists.
mariadb_starting() {
  mariadb_running || pgrep -f -- "--defaults-file=$MARIADB_CNF" >/dev/null 2>&1
}

mariadb_down() {
  if mariadb_external; then return 0; fi
  # mariadbd shuts down cleanly on TERM.
  stop_pid MariaDB "$MARIADB_PID" mariadbd 60
}

mariadb_url() { echo "${SLUICE_TEST_MYSQL_URL:-$MARIADB_URL}"; }

mariadb_is_up() {
  if mariadb_external; then return 0; fi
  mariadb_running
}
