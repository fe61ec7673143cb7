#!/usr/bin/env bash
# sluice test stack: real PostgreSQL, MariaDB, Kafka, FerretDB, Prometheus and a schema
# registry (Apicurio) on loopback, with a stack CA for their TLS endpoints.
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
#   SLUICE_STACK_ONLY    e.g. "postgres kafka": act on these servers only (up/down);
#                        "kafka-compat" is the second, 3.9 Kafka (never started by a plain up)
#   SLUICE_STACK_KAFKA_VERSION   the main Kafka's version (default 4.1.1; 3.9.2 works)
#   SLUICE_TEST_SCHEMA_REGISTRY_URL: a registry of your own instead of the stack's
#   Kafka Connect (connect.sh) is not in the default set: SLUICE_STACK_ONLY=connect starts it;
#   any down that stops Kafka stops it first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=tls.sh
. "$HERE/tls.sh"
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
# shellcheck source=registry.sh
. "$HERE/registry.sh"
# shellcheck source=connect.sh
. "$HERE/connect.sh"

SERVERS=(postgres mariadb kafka ferretdb prometheus registry)
# down also stops the compatibility Kafka, which test/run.js may have left up.
DOWN_SERVERS=(kafka-compat "${SERVERS[@]}")
if [ -n "${SLUICE_STACK_ONLY:-}" ]; then
  read -r -a SERVERS <<<"$SLUICE_STACK_ONLY"
  DOWN_SERVERS=("${SERVERS[@]}")
fi

server_fn() {
  case "$1" in
    postgres) echo pg ;;
    mariadb|mysql) echo mariadb ;;
    kafka) echo kafka ;;
    ferretdb|mongodb) echo ferretdb ;;
    prometheus) echo prometheus ;;
    registry|schemaRegistry) echo registry ;;
    kafka-compat) echo kafka_compat ;;
    connect) echo connect ;;
    *) die "unknown server '$1' (postgres, mariadb, kafka, ferretdb, prometheus, registry, kafka-compat, connect)" ;;
  esac
}

# One up/down at a time per state dir.
take_lock() {
  exec 9>"$STATE_DIR/.lock"
  if ! flock -w 600 9; then die "another stack.sh holds $STATE_DIR/.lock"; fi
}

cmd_up() {
  take_lock
  reserve_ports
  local s start=$SECONDS
  # The registry's JVM takes a few seconds to start: launch it first, wait for it last.
  for s in "${SERVERS[@]}"; do
    if [ "$(server_fn "$s")" = registry ]; then registry_start; fi
  done
  for s in "${SERVERS[@]}"; do
    "$(server_fn "$s")_up"
  done
  log "stack up in $((SECONDS - start))s (state $STATE_DIR)"
}

cmd_down() {
  take_lock
  local s i
  # Connect is started on demand only, and is useless without its Kafka.
  if [ -z "${SLUICE_STACK_ONLY:-}" ] || [[ " ${DOWN_SERVERS[*]} " == *" kafka "* ]]; then connect_down; fi
  # Started on demand by the tests that need it (mysql8auth.sh), stopped with the rest.
  if [ -z "${SLUICE_STACK_ONLY:-}" ]; then bash "$HERE/mysql8auth.sh" down; fi
  for ((i = ${#DOWN_SERVERS[@]} - 1; i >= 0; i--)); do
    s="${DOWN_SERVERS[$i]}"
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
  local up_pg up_my up_ka up_fe up_pr up_re up_kc
  prometheus_is_up && up_pr=true || up_pr=false
  pg_is_up && up_pg=true || up_pg=false
  mariadb_is_up && up_my=true || up_my=false
  kafka_is_up && up_ka=true || up_ka=false
  ferretdb_is_up && up_fe=true || up_fe=false
  registry_is_up && up_re=true || up_re=false
  kafka_compat_is_up && up_kc=true || up_kc=false
  if [ "${1:-}" = "--json" ]; then
    # "up": every server of a plain `up` is running (or external); "servers": each one.
    # "tls" and "kafkaSaslSsl" describe the stack's own servers (test material only).
    local all=false
    if [ "$up_pg$up_my$up_ka$up_fe$up_pr$up_re" = truetruetruetruetruetrue ]; then all=true; fi
    local j=json_str
    printf '{"postgres":%s,"mysql":%s,"kafka":%s,"mongodb":%s,"prometheus":%s,"schemaRegistry":%s,' \
      "$($j "$(pg_url)")" "$($j "$(mariadb_url)")" "$($j "$(kafka_url)")" "$($j "$(ferretdb_url)")" "$($j "$(prometheus_url)")" "$($j "$(registry_url)")"
    if connect_is_up; then printf '"connect":%s,' "$($j "$(connect_url)")"; fi
    printf '"kafkaVersion":%s,"kafkaCompat":%s,"kafkaCompatVersion":%s,' \
      "$($j "$KAFKA_VERSION")" "$($j "$(kafka_compat_url)")" "$($j "$KAFKA_COMPAT_VERSION")"
    printf '"up":%s,"servers":{"postgres":%s,"mysql":%s,"kafka":%s,"mongodb":%s,"prometheus":%s,"schemaRegistry":%s,"kafkaCompat":%s},' \
      "$all" "$up_pg" "$up_my" "$up_ka" "$up_fe" "$up_pr" "$up_re" "$up_kc"
    printf '"stateDir":%s,"prometheusTargets":%s,"promtool":%s,' \
      "$($j "$STATE_DIR")" "$($j "$PROM_TARGETS")" "$($j "$(prometheus_promtool)")"
    printf '"tls":{"ca":%s,"serverCert":%s,"serverKey":%s,"untrustedCa":%s,"clientCert":%s,"clientKey":%s,"otherHostCert":%s,"otherHostKey":%s,"wrongHost":%s,"postgres":%s,"mysql":%s,"mongodb":%s,"kafka":%s,"kafkaWrongHost":%s},' \
      "$($j "$TLS_CA")" "$($j "$TLS_CERT")" "$($j "$TLS_KEY")" "$($j "$TLS_DIR/untrusted-ca.pem")" "$($j "$TLS_DIR/client.pem")" "$($j "$TLS_DIR/client-key.pem")" \
      "$($j "$TLS_DIR/other-host.pem")" "$($j "$TLS_DIR/other-host-key.pem")" "$($j "$TLS_WRONG_HOST")" \
      "$($j "$PG_URL")" "$($j "$MARIADB_URL")" "$($j "$(ferretdb_tls_url)")" \
      "$($j "127.0.0.1:$KAFKA_SASL_PORT")" "$($j "$TLS_WRONG_HOST:$KAFKA_SASL_ALT_PORT")"
    printf '"kafkaSaslSsl":{"brokers":%s,"wrongHostBrokers":%s,"users":[%s,%s,%s]}}\n' \
      "$($j "127.0.0.1:$KAFKA_SASL_PORT")" "$($j "$TLS_WRONG_HOST:$KAFKA_SASL_ALT_PORT")" \
      "{\"mechanism\":\"plain\",\"username\":$($j "$KAFKA_PLAIN_USER"),\"password\":$($j "$KAFKA_PLAIN_PASSWORD")}" \
      "{\"mechanism\":\"scram-sha-256\",\"username\":$($j "$KAFKA_SCRAM256_USER"),\"password\":$($j "$KAFKA_SCRAM256_PASSWORD")}" \
      "{\"mechanism\":\"scram-sha-512\",\"username\":$($j "$KAFKA_SCRAM512_USER"),\"password\":$($j "$KAFKA_SCRAM512_PASSWORD")}"
    return 0
  fi
  local word
  word() { if [ "$1" = true ]; then echo up; else echo down; fi; }
  printf '%-14s %-5s %s\n' postgres "$(word $up_pg)" "$(pg_url) (TLS optional, CA $TLS_CA)"
  printf '%-14s %-5s %s\n' mysql "$(word $up_my)" "$(mariadb_url) (TLS optional)"
  printf '%-14s %-5s %s\n' kafka "$(word $up_ka)" "$(kafka_url) (Kafka $KAFKA_VERSION; SASL_SSL 127.0.0.1:$KAFKA_SASL_PORT)"
  printf '%-14s %-5s %s\n' mongodb "$(word $up_fe)" "$(ferretdb_url) (TLS $(ferretdb_tls_url))"
  printf '%-14s %-5s %s\n' prometheus "$(word $up_pr)" "$(prometheus_url)"
  printf '%-14s %-5s %s\n' schemaRegistry "$(word $up_re)" "$(registry_url)"
  printf '%-14s %-5s %s\n' kafka-compat "$(word $up_kc)" "$(kafka_compat_url) (Kafka $KAFKA_COMPAT_VERSION, for test/run.js's compatibility phase)"
  if connect_is_up; then printf '%-14s %-5s %s\n' connect up "$(connect_url)"; fi
  printf 'state dir %s\ncache dir %s\n' "$STATE_DIR" "$CACHE_DIR"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) echo "usage: $0 up | down [--clean] | status [--json]" >&2; exit 2 ;;
esac
