# shellcheck shell=bash
# Apicurio Registry 2.6.13.Final (in-memory storage), a schema registry that speaks the
# Confluent API under /apis/ccompat/v7, for the test stack: http://127.0.0.1:58081.
# Prebuilt on Maven Central as io.apicurio:apicurio-registry-app:<v>:tar.gz:all, unpacked by
# maven-dependency-plugin (test/stack/registry/pom.xml) into the cache, run with the
# machine's java. Sourced by stack.sh after lib.sh.
#
# Differences from Confluent's registry that tests must know:
#   - the default compatibility is NONE: a test that relies on BACKWARD sets it
#     (PUT <url>/config {"compatibility":"BACKWARD"}, or per subject PUT <url>/config/<subject>);
#   - there is no /associations endpoint (@confluentinc/schemaregistry falls back after a 404).
# Storage is in memory: every start is an empty registry.

REGISTRY_DIR="$STATE_DIR/registry"
REGISTRY_LOG="$REGISTRY_DIR/registry.log"
REGISTRY_PID="$REGISTRY_DIR/registry.pid"
REGISTRY_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"
REGISTRY_JAR="$REGISTRY_HOME/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
REGISTRY_POM="$STACK_LIB_DIR/registry/pom.xml"
REGISTRY_BASE="http://127.0.0.1:$REGISTRY_PORT"

registry_install() {
  kafka_java >/dev/null || apt_install default-jre-headless
  [ -f "$REGISTRY_HOME/.complete" ] && [ -f "$REGISTRY_JAR" ] && return 0
  log "registry: fetching Apicurio Registry $APICURIO_VERSION from Maven Central into $REGISTRY_HOME"
  rm -rf "$REGISTRY_HOME" "$REGISTRY_HOME.tmp"
  mvn_run registry "$REGISTRY_POM" dependency:unpack -Dapicurio.version="$APICURIO_VERSION" -Dregistry.dir="$REGISTRY_HOME.tmp"
  [ -f "$REGISTRY_HOME.tmp/apicurio-registry-app-$APICURIO_VERSION-runner.jar" ] \
    || die "registry: the runner jar is missing after mvn; see $CACHE_DIR/registry-build.log"
  mv "$REGISTRY_HOME.tmp" "$REGISTRY_HOME"
  touch "$REGISTRY_HOME/.complete"
}

registry_running() { pid_alive "$REGISTRY_PID" apicurio-registry-app; }

registry_ready() {
  curl -fsS --max-time 2 "$REGISTRY_BASE/health/ready" >/dev/null 2>&1
}

# An override that names another registry: the stack leaves this one alone.
registry_external() {
  [ -n "${SLUICE_TEST_SCHEMA_REGISTRY_URL:-}" ] && [ "${SLUICE_TEST_SCHEMA_REGISTRY_URL%/}" != "$(registry_own_url)" ]
}

# Starts the JVM without waiting (it takes a few seconds): stack.sh starts it first and
# waits for it last, so that its start overlaps the other servers'.
registry_start() {
  registry_external && return 0
  registry_running && return 0
  registry_install
  require_free_port "Apicurio Registry" "$REGISTRY_PORT"
  mkdir -p "$REGISTRY_DIR"
  if [ -f "$REGISTRY_LOG" ]; then mv -f "$REGISTRY_LOG" "$REGISTRY_LOG.prev"; fi
  log "registry: starting Apicurio Registry $APICURIO_VERSION on $REGISTRY_BASE, log $REGISTRY_LOG"
  # Run from its own folder: the runner jar finds lib/ beside it. Quarkus writes nothing else.
  (cd "$REGISTRY_HOME" && exec setsid "$(kafka_java)" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dquarkus.log.console.color=false \
    -jar "$REGISTRY_JAR" >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&-) &
  echo $! >"$REGISTRY_PID"
}

registry_up() {
  if registry_external; then
    log "registry: SLUICE_TEST_SCHEMA_REGISTRY_URL is set, not starting Apicurio Registry"
    return 0
  fi
  registry_start
  wait_until "Apicurio Registry" "$REGISTRY_LOG" registry_running registry_ready
  log "registry: ready"
}

registry_down() {
  registry_external && return 0
  stop_pid "Apicurio Registry" "$REGISTRY_PID" apicurio-registry-app 30
}

registry_own_url() { echo "$REGISTRY_BASE/apis/ccompat/v7"; }
registry_url() { echo "${SLUICE_TEST_SCHEMA_REGISTRY_URL:-$(registry_own_url)}"; }

registry_is_up() {
  registry_external && return 0
  registry_running
}
