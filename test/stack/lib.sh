# shellcheck shell=bash
# Shared helpers for the sluice test stack. Sourced by stack.sh and the per-server scripts.
#
# Layout:
#   state dir  ${SLUICE_STACK_DIR:-<repo>/.stack}          data dirs, configs, pid files, logs
#   cache dir  ${SLUICE_STACK_CACHE:-$HOME/.cache/sluice-stack}  downloads and builds (apt .debs,
#              Maven repo, Kafka libs, Go caches, ferretdb binary)

STACK_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_LIB_DIR/../.." && pwd)"

STATE_DIR="${SLUICE_STACK_DIR:-$REPO_ROOT/.stack}"
CACHE_DIR="${SLUICE_STACK_CACHE:-${HOME:-/root}/.cache/sluice-stack}"
mkdir -p "$STATE_DIR" "$CACHE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"

# Ports (loopback only). SLUICE_STACK_PORT_OFFSET (default 0) shifts every port, so a
# second stack (its own SLUICE_STACK_DIR) can run beside the first, e.g. for outage
# tests that must not disturb other work on the machine.
PORT_OFFSET="${SLUICE_STACK_PORT_OFFSET:-0}"
case "$PORT_OFFSET" in ''|*[!0-9]*) printf '[stack] ERROR: SLUICE_STACK_PORT_OFFSET must be a non-negative integer, got '$PORT_OFFSET'\n' >&2; exit 1;; esac
PG_PORT=$((55432 + PORT_OFFSET))
MARIADB_PORT=$((53306 + PORT_OFFSET))
KAFKA_PORT=$((59092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((59093 + PORT_OFFSET))
FERRETDB_PORT=$((57017 + PORT_OFFSET))
FERRETDB_DEBUG_PORT=$((57018 + PORT_OFFSET))
PROMETHEUS_PORT=$((59090 + PORT_OFFSET))
KAFKA_COMPAT_PORT=$((59094 + PORT_OFFSET))            # the 3.9 compatibility Kafka
KAFKA_COMPAT_CONTROLLER_PORT=$((59095 + PORT_OFFSET))
KAFKA_SASL_PORT=$((59096 + PORT_OFFSET))              # SASL_SSL on 127.0.0.1
KAFKA_SASL_ALT_PORT=$((59097 + PORT_OFFSET))          # SASL_SSL on 127.0.0.2 (wrong host)
FERRETDB_TLS_PORT=$((57019 + PORT_OFFSET))
REGISTRY_PORT=$((58081 + PORT_OFFSET))                # Apicurio Registry

# Pinned versions.
# Kafka: 4.1.x by default; SLUICE_STACK_KAFKA_VERSION=3.9.2 brings up 3.9 instead. The
# compatibility instance (kafka-compat) runs KAFKA_COMPAT_VERSION.
KAFKA_VERSION="${SLUICE_STACK_KAFKA_VERSION:-4.1.1}"
KAFKA_COMPAT_VERSION="${SLUICE_STACK_KAFKA_COMPAT_VERSION:-3.9.2}"
case "$KAFKA_VERSION$KAFKA_COMPAT_VERSION" in *[!0-9.]*) printf '[stack] ERROR: Kafka versions must look like 4.1.1, got %s and %s\n' "$KAFKA_VERSION" "$KAFKA_COMPAT_VERSION" >&2; exit 1;; esac
APICURIO_VERSION=2.6.13.Final
FERRETDB_VERSION=v1.24.2
PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
DOCKER_COMPOSE_DEB_VERSION=1.29.2-3

# Default readiness timeout per server, seconds.
STACK_TIMEOUT="${SLUICE_STACK_TIMEOUT:-120}"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# The stack's ports lie inside Linux's ephemeral range (32768-60999 by default): an
# outgoing connection of any process can be given one of them as its local port, and a
# server (re)starting on it then fails with "Address already in use" (seen when an outage
# test restarted Kafka). As root, reserve them (net.ipv4.ip_local_reserved_ports), which
# keeps them from ephemeral use and still lets servers bind them; added to what is there.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports
  [ -w "$f" ] || return 0
  local ports="$PG_PORT,$MARIADB_PORT,$((53316 + PORT_OFFSET)),$FERRETDB_PORT-$FERRETDB_TLS_PORT,$REGISTRY_PORT,$((58083 + PORT_OFFSET)),$PROMETHEUS_PORT-$KAFKA_SASL_ALT_PORT"
  local have; have="$(cat "$f" 2>/dev/null)"
  printf '%s\n' "${have:+$have,}$ports" > "$f" 2>/dev/null || log "could not reserve the stack's ports in $f (continuing)"
}

# PostgreSQL and MariaDB refuse to run as root: as root we run them as a system user.
if is_root; then
  STACK_USER="${SLUICE_STACK_USER:-sluicestack}"
else
  STACK_USER="$(id -un)"
fi

ensure_stack_user() {
  is_root || return 0
  if ! id -u "$STACK_USER" >/dev/null 2>&1; then
    log "creating system user $STACK_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$STACK_USER"
  fi
  # The state dir must be reachable by that user (e.g. not under a 0700 /root).
  if ! setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups test -x "$STATE_DIR"; then
    die "user $STACK_USER cannot reach the state dir $STATE_DIR (a parent directory is not world-traversable); set SLUICE_STACK_DIR to a directory such as /var/tmp/sluice-stack"
  fi
}

# Run a command as the stack user (directly when we are not root). Uses setpriv, which
# execs in place (no lingering parent process), so it is safe for daemons too.
as_user() {
  if is_root; then
    HOME=/nonexistent USER="$STACK_USER" LOGNAME="$STACK_USER" \
      setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups -- "$@"
  else
    "$@"
  fi
}

# mkdir owned by the stack user.
user_dir() {
  local d
  for d in "$@"; do
    mkdir -p "$d"
    if is_root; then chown "$STACK_USER:" "$d"; fi
  done
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PIDFILE [CMDLINE_SUBSTRING]: the pid in the file is a live process (whose
# command line contains the substring, to guard against pid reuse).
pid_alive() {
  local pidfile="$1" pattern="${2:-}" pid
  [ -s "$pidfile" ] || return 1
  pid="$(head -n1 "$pidfile" | tr -dc '0-9')"
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ] || return 1
  local state ppid
  read -r state ppid _ < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || true
  # A zombie has exited (its parent has not reaped it yet).
  [ "${state:-}" != Z ] || return 1
  # Our own child that has not yet exec'd the server (a shell, or nothing while in exec)
  # is the server starting: a check right after launching it must not call it dead.
  [ "${ppid:-}" != "$$" ] || return 0
  if [ -n "$pattern" ] && [ -r "/proc/$pid/cmdline" ]; then
    local cmd; cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    [[ "$cmd" == *"$pattern"* ]] || return 1
  fi
  return 0
}

pid_of() { head -n1 "$1" 2>/dev/null | tr -dc '0-9'; }

# wait_until WHAT LOGFILE ALIVE_CMD READY_CMD...: poll READY_CMD every 0.25 s until it
# succeeds, for at most $STACK_TIMEOUT seconds. ALIVE_CMD ("-" for none) is checked on
# each round so that a server that died during start-up fails at once. On failure, show
# the log's tail and name the server and its log.
wait_until() {
  local what="$1" logfile="$2" alive="$3"; shift 3
  local deadline=$((SECONDS + STACK_TIMEOUT)) why=""
  until "$@" >/dev/null 2>&1; do
    if [ "$alive" != "-" ] && ! "$alive"; then
      why="exited during start-up"
    elif [ "$SECONDS" -ge "$deadline" ]; then
      why="did not become ready within ${STACK_TIMEOUT}s"
    fi
    if [ -n "$why" ]; then
      if [ -f "$logfile" ]; then
        log "last lines of $logfile:"
        tail -n 30 "$logfile" >&2 || true
      fi
      die "$what $why; see $logfile"
    fi
    sleep 0.25
  done
}

# stop_pid NAME PIDFILE PATTERN [TIMEOUT]: TERM, wait, then KILL.
stop_pid() {
  local name="$1" pidfile="$2" pattern="$3" timeout="${4:-30}" pid deadline
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(pid_of "$pidfile")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name did not stop within ${timeout}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

# Fail early if a port we are about to use is held by someone else.
require_free_port() {
  local what="$1" port="$2"
  if port_open "$port"; then
    die "$what: port $port on 127.0.0.1 is already in use by another process (not started by this stack, or its pid file in $STATE_DIR is gone)"
  fi
}

# ---- Debian packages -------------------------------------------------------------

# mvn_run WHAT POM GOAL ARGS...: maven on a copy of POM (plugins write under the pom's
# target/, which must not land in the repository), with the cache's local repository;
# on failure, the log's tail and a stop naming WHAT.
mvn_run() {
  local what="$1" pom="$2" goal="$3"; shift 3
  command -v mvn >/dev/null 2>&1 || apt_install maven
  local build="$CACHE_DIR/mvn-build-$what" buildlog="$CACHE_DIR/$what-build.log"
  rm -rf "$build"
  mkdir -p "$build"
  cp "$pom" "$build/pom.xml"
  if ! mvn -q -B -f "$build/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" "$@" "$goal" >"$buildlog" 2>&1; then
    tail -n 30 "$buildlog" >&2
    rm -rf "$build"
    die "$what: mvn $goal failed; see $buildlog"
  fi
  rm -rf "$build"
}

APT_UPDATED=0
# apt_install PKG...: install Debian packages, keeping the downloaded .debs in the cache,
# running `apt-get update` once, and preventing services from being started.
apt_install() {
  is_root || die "need Debian packages: $*; install them (sudo apt-get install $*) or run as root"
  local archives="$CACHE_DIR/apt"
  mkdir -p "$archives/partial"
  local apt_opts=(-o "Dir::Cache::Archives=$archives" -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 -q)
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# sluice test stack: do not start services during package installs\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  {
    if [ "$APT_UPDATED" -eq 0 ]; then
      log "apt-get update"
      DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >&2 && APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "$@" >&2
  } || rc=$?
  if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}
