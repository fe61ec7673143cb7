# shellcheck shell=bash
# Prometheus (Debian package `prometheus`, which also ships promtool) for the test stack,
# on 127.0.0.1:59090. Sourced by stack.sh after lib.sh.
#
# The package is fetched with `apt-get download` and unpacked into the cache (no root,
# no apt install): its binaries are static Go programs that need nothing else.
#
# It scrapes every 2 seconds whatever the tests list in file_sd target files:
#   $STATE_DIR/prometheus/targets/*.json   e.g. [{"targets":["127.0.0.1:43121"],"labels":{"job":"sluice-test-1a2b"}}]
# and loads the project's alert rules (prometheus/alerts.yml), so they are evaluated too.

PROM_DIR="$STATE_DIR/prometheus"
PROM_DATA="$PROM_DIR/data"
PROM_TARGETS="$PROM_DIR/targets"
PROM_LOG="$PROM_DIR/prometheus.log"
PROM_PID="$PROM_DIR/prometheus.pid"
PROM_URL="http://127.0.0.1:$PROMETHEUS_PORT"

# Prints the directory holding the unpacked prometheus and promtool binaries, fetching
# the Debian package on first use.
prometheus_install() {
  local dir="$CACHE_DIR/prometheus-$PROMETHEUS_DEB_VERSION"
  if [ ! -x "$dir/usr/bin/prometheus" ] || [ ! -x "$dir/usr/bin/promtool" ]; then
    local debs="$CACHE_DIR/debs" deb
    mkdir -p "$debs"
    deb="$(ls "$debs"/prometheus_"${PROMETHEUS_DEB_VERSION/:/%3a}"_*.deb 2>/dev/null | head -n1 || true)"
    if [ -z "$deb" ]; then
      log "prometheus: apt-get download prometheus=$PROMETHEUS_DEB_VERSION"
      (cd "$debs" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >&2 2>&1) \
        || (cd "$debs" && apt-get -q update >&2 && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >&2) \
        || die "prometheus: apt-get download prometheus=$PROMETHEUS_DEB_VERSION failed"
      deb="$(ls "$debs"/prometheus_*.deb | head -n1)"
    fi
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    dpkg-deb -x "$deb" "$dir.tmp" || die "prometheus: cannot unpack $deb"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir/usr/bin"
}

prometheus_running() {
  pid_alive "$PROM_PID" prometheus
}

prometheus_ready() {
  curl -fsS "$PROM_URL/-/ready" >/dev/null 2>&1
}

prometheus_config() {
  user_dir "$PROM_DIR"
  mkdir -p "$PROM_DATA" "$PROM_TARGETS"
  cat >"$PROM_DIR/prometheus.yml" <<EOF
# sluice test stack: written by test/stack/prometheus.sh on each start.
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
rule_files:
  - $REPO_ROOT/prometheus/alerts.yml
scrape_configs:
  - job_name: sluice
    file_sd_configs:
      - files: ['$PROM_TARGETS/*.json']
        refresh_interval: 1s
EOF
}

prometheus_up() {
  local bin
  bin="$(prometheus_install)"
  if prometheus_running; then
    wait_until Prometheus "$PROM_LOG" prometheus_running prometheus_ready
    log "prometheus: already running on $PROM_URL"
    return 0
  fi
  require_free_port Prometheus "$PROMETHEUS_PORT"
  prometheus_config
  "$bin/promtool" check config "$PROM_DIR/prometheus.yml" >&2 || die "prometheus: invalid config $PROM_DIR/prometheus.yml"
  log "prometheus: starting ($("$bin/prometheus" --version 2>&1 | head -n1)) on $PROM_URL, log $PROM_LOG"
  # Short retention: the stack only ever looks at the last minutes.
  nohup "$bin/prometheus" \
    --config.file="$PROM_DIR/prometheus.yml" \
    --storage.tsdb.path="$PROM_DATA" \
    --storage.tsdb.retention.time=2h \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle \
    --web.console.templates="$PROM_DIR" --web.console.libraries="$PROM_DIR" \
    >"$PROM_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$PROM_PID"
  wait_until Prometheus "$PROM_LOG" prometheus_running prometheus_ready
  log "prometheus: ready"
}

prometheus_down() {
  stop_pid Prometheus "$PROM_PID" prometheus 30
}

prometheus_url() { echo "$PROM_URL"; }

prometheus_is_up() { prometheus_running; }

# Where promtool is once `up` (or prometheus_install) has run.
prometheus_promtool() { echo "$CACHE_DIR/prometheus-$PROMETHEUS_DEB_VERSION/usr/bin/promtool"; }
