#!/usr/bin/env bash
# sluice test stack: real PostgreSQL, MariaDB, Kafka, FerretDB and Prometheus on loopback.
#
#   bash test/stack/stack.sh up               install what is missing (cached), start all
#   bash test/stack/stack.sh down [--clean]   stop all (--clean: also delete the state dir)
#   bash test/stack/stack.sh status [--json]  where they are; --json prints one JSON object
#
# Environment:
#   SLUICE_STACK_DIR     state dir (data, configs, pids, logs); default <repo>/.stack
#   SLUICE_STACK_CACHE   downloads and builds; default ~/.cache/sluice-stack
#   SLUICE_STACK_TIMEOUT seconds to wait for each server to answer; default 120
#   SLUICE_TEST_POSTGRES_URL, SLUICE_TEST_MYSQL_URL, SLUICE_TEST_KAFKA_BROKERS,
#   SLUICE_TEST_MONGODB_URL: use that server instead (not installed, not started);
#   a value equal to the stack's own address still means the stack's server.
#   SLUICE_STACK_ONLY    e.g. "postgres kafka": act on these servers only (up/down)
#   Kafka Connect (connect.sh) is not in the default set: SLUICE_STACK_ONLY=connect starts it;
#   any down that stops Kafka stops it first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=postgres.sh
. "$HERE/postgres.sh"
# shellcheck source=mariadb.sh
. "$HERE/mariadb.sh"
# shellcheck source=kafka.sh
. "$HERE/kafka.sh"
# shellcheck source=ferretdb.sh
. "$HERE/ferretdb.sh"
# shellcheck source=prometheus.sh
. "$HERE/prometheus.sh"
# shellcheck source=connect.sh
. "$HERE/connect.sh"

SERVERS=(postgres mariadb kafka ferretdb prometheus)
if [ -n "${SLUICE_STACK_ONLY:-}" ]; then
  read -r -a SERVERS <<<"$SLUICE_STACK_ONLY"
fi

server_fn() {
  case "$1" in
    postgres) echo pg ;;
    mariadb|mysql) echo mariadb ;;
    kafka) echo kafka ;;
    ferretdb|mongodb) echo ferretdb ;;
    prometheus) echo prometheus ;;
    connect) echo connect ;;
    *) die "unknown server '$1' (postgres, mariadb, kafka, ferretdb, prometheus, connect)" ;;
  esac
}

# One up/down at a time per state dir.
take_lock() {
  exec 9>"$STATE_DIR/.lock"
  if ! flock -w 600 9; then die "another stack.sh holds $STATE_DIR/.lock"; fi
}

cmd_up() {
  take_lock
  local s start=$SECONDS
  for s in "${SERVERS[@]}"; do
    "$(server_fn "$s")_up"
  done
  log "stack up in $((SECONDS - start))s (state $STATE_DIR)"
}

cmd_down() {
  take_lock
  local s i
  # Connect is started on demand only, and is useless without its Kafka.
  if [ -z "${SLUICE_STACK_ONLY:-}" ] || [[ " ${SERVERS[*]} " == *" kafka "* ]]; then connect_down; fi
  for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
    s="${SERVERS[$i]}"
    "$(server_fn "$s")_down"
  done
  if [ "${1:-}" = "--clean" ]; then
    log "removing $STATE_DIR"
    exec 9>&-
    rm -rf "$STATE_DIR"
  fi
}

json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

cmd_status() {
  local up_pg up_my up_ka up_fe up_pr
  prometheus_is_up && up_pr=true || up_pr=false
  pg_is_up && up_pg=true || up_pg=false
  mariadb_is_up && up_my=true || up_my=false
  kafka_is_up && up_ka=true || up_ka=false
  ferretdb_is_up && up_fe=true || up_fe=false
  if [ "${1:-}" = "--json" ]; then
    # "up": every server is running (or external); "servers": each one.
    local all=false
    if [ "$up_pg$up_my$up_ka$up_fe$up_pr" = truetruetruetruetrue ]; then all=true; fi
    printf '{"postgres":%s,"mysql":%s,"kafka":%s,"mongodb":%s,"prometheus":%s,"up":%s,"servers":{"postgres":%s,"mysql":%s,"kafka":%s,"mongodb":%s,"prometheus":%s},"stateDir":%s,"prometheusTargets":%s,"promtool":%s}\n' \
      "$(json_str "$(pg_url)")" "$(json_str "$(mariadb_url)")" "$(json_str "$(kafka_url)")" "$(json_str "$(ferretdb_url)")" "$(json_str "$(prometheus_url)")" \
      "$all" "$up_pg" "$up_my" "$up_ka" "$up_fe" "$up_pr" "$(json_str "$STATE_DIR")" "$(json_str "$PROM_TARGETS")" "$(json_str "$(prometheus_promtool)")" \
      | if connect_is_up; then sed "s|}\$|,\"connect\":$(json_str "$(connect_url)")}|"; else cat; fi
    return 0
  fi
  local word
  word() { if [ "$1" = true ]; then echo up; else echo down; fi; }
  printf '%-9s %-5s %s\n' postgres "$(word $up_pg)" "$(pg_url)"
  printf '%-9s %-5s %s\n' mysql "$(word $up_my)" "$(mariadb_url)"
  printf '%-9s %-5s %s\n' kafka "$(word $up_ka)" "$(kafka_url)"
  printf '%-9s %-5s %s\n' mongodb "$(word $up_fe)" "$(ferretdb_url)"
  printf '%-10s %-5s %s\n' prometheus "$(word $up_pr)" "$(prometheus_url)"
  if connect_is_up; then printf '%-9s %-5s %s\n' connect up "$(connect_url)"; fi
  printf 'state dir %s\ncache dir %s\n' "$STATE_DIR" "$CACHE_DIR"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) echo "usage: $0 up | down [--clean] | status [--json]" >&2; exit 2 ;;
esac
