# shellcheck shell=bash
# Kafka Connect (one distributed-mode worker) with Debezium 3.6.1.Final's PostgreSQL and
# MySQL source connectors and its MongoDB sink connector, for the Debezium comparison
# (bench/debezium.ts) and the interop tests. Jars from Maven Central
# (test/stack/connect/pom.xml), run with the machine's java.
# Not started by `stack.sh up`: only by what needs it,
#   SLUICE_STACK_ONLY=connect bash test/stack/stack.sh up     (starts the stack's Kafka too if it is down)
#   SLUICE_STACK_ONLY=connect bash test/stack/stack.sh down
# `stack.sh down` with no SLUICE_STACK_ONLY, or any down that stops Kafka, stops it too.
# REST API on 127.0.0.1:58083 (+ SLUICE_STACK_PORT_OFFSET); `status --json` gains "connect" while it runs.
# SLUICE_TEST_CONNECT_URL names a worker of your own instead (not started, not stopped).
# Sourced by stack.sh after lib.sh and kafka.sh.
#
# Distributed mode, not standalone: connectors are created and deleted through the REST API
# by each test and bench run, and in distributed mode their configs and source offsets live
# in Kafka topics, so a restarted worker (warm start) resumes them as a deployed one would;
# it is also how Debezium is run in production. The cost is a group join at start (the
# broker's group.initial.rebalance.delay.ms is 0 on the stack, so it is short).

CONNECT_VERSION=4.3.0
CONNECT_PORT=$((58083 + PORT_OFFSET))
CONNECT_DIR="$STATE_DIR/connect"
CONNECT_PID="$CONNECT_DIR/connect.pid"
CONNECT_OUT="$CONNECT_DIR/connect.out"          # stdout/stderr of the JVM
CONNECT_LOG="$CONNECT_DIR/logs/connect.log"     # log4j2
CONNECT_HOME="$CACHE_DIR/connect-$CONNECT_VERSION"
CONNECT_LIBS="$CONNECT_HOME/libs"
CONNECT_PLUGINS="$CONNECT_HOME/plugins"
CONNECT_POM="$STACK_LIB_DIR/connect/pom.xml"
CONNECT_URL="http://127.0.0.1:$CONNECT_PORT"
CONNECT_MAIN=org.apache.kafka.connect.cli.ConnectDistributed

connect_install() {
  kafka_java >/dev/null || apt_install default-jre-headless
  local stamp="$CONNECT_HOME/.complete" want
  want="$(sha256sum "$CONNECT_POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "connect: fetching Kafka Connect $CONNECT_VERSION and the Debezium connectors from Maven Central into $CONNECT_HOME"
  local build="$CACHE_DIR/connect-build" buildlog="$CACHE_DIR/connect-build.log" tmp="$CONNECT_HOME.tmp"
  rm -rf "$build" "$tmp"
  mkdir -p "$build"
  cp "$CONNECT_POM" "$build/pom.xml"
  if ! mvn -q -B -f "$build/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
      -Dconnect.libs="$tmp/libs" -Dconnect.plugins="$tmp/plugins" \
      dependency:copy-dependencies dependency:unpack >"$buildlog" 2>&1; then
    tail -n 30 "$buildlog" >&2
    die "connect: mvn dependency:copy-dependencies/unpack failed; see $buildlog"
  fi
  ls "$tmp/libs/connect-runtime-$CONNECT_VERSION.jar" >/dev/null \
    || die "connect: connect-runtime-$CONNECT_VERSION.jar missing after mvn; see $buildlog"
  local c
  for c in postgres mysql mongodb; do
    ls "$tmp/plugins/debezium-connector-$c/"debezium-connector-"$c"-*.jar >/dev/null \
      || die "connect: debezium-connector-$c missing after mvn; see $buildlog"
  done
  rm -rf "$CONNECT_HOME"
  mv "$tmp" "$CONNECT_HOME"
  rm -rf "$build"
  echo "$want" >"$stamp"
}

connect_running() { pid_alive "$CONNECT_PID" "$CONNECT_MAIN"; }

# Ready: the worker has joined its group and read its config topic (KIP-1017's /health
# answers 200 only then), so connectors can be created at once.
connect_ready() {
  curl -fsS --max-time 2 "$CONNECT_URL/health" >/dev/null 2>&1
}

connect_configure() {
  mkdir -p "$CONNECT_DIR/logs"
  cat >"$CONNECT_DIR/worker.properties" <<EOF
# sluice test stack: one Kafka Connect worker in distributed mode
bootstrap.servers=$(kafka_url)
group.id=sluice-stack-connect
config.storage.topic=_sluice_connect_configs
offset.storage.topic=_sluice_connect_offsets
status.storage.topic=_sluice_connect_status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=1
# The same converter as sluice's default transport format: Debezium JSON with the Connect
# schema inline. Connectors may override it (key.converter / value.converter in their config).
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
listeners=http://127.0.0.1:$CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$CONNECT_PORT
plugin.path=$CONNECT_PLUGINS
# Debezium's archives carry ServiceLoader manifests: no reflective scan of every jar at start.
plugin.discovery=service_load
# Source offsets flushed every second (default 60 s), so a restarted worker resumes close by.
offset.flush.interval.ms=1000
# One worker: a task lost with a killed worker is reassigned at once, not after 5 minutes.
scheduled.rebalance.max.delay.ms=0
EOF
  cat >"$CONNECT_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $CONNECT_LOG
appender.file.filePattern = $CONNECT_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
EOF
}

# Heap as the issue asks (512 MB); the rest as Kafka's own connect-distributed.sh runs it.
CONNECT_JVM_OPTS=(-Xmx512m -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)

connect_external() { [ -n "${SLUICE_TEST_CONNECT_URL:-}" ] && [ "${SLUICE_TEST_CONNECT_URL%/}" != "$CONNECT_URL" ]; }

connect_up() {
  if connect_external; then
    log "connect: SLUICE_TEST_CONNECT_URL is set, not starting Kafka Connect"
    return 0
  fi
  if connect_running; then
    wait_until "Kafka Connect" "$CONNECT_LOG" connect_running connect_ready
    log "connect: already running on $CONNECT_URL"
    return 0
  fi
  kafka_is_up || kafka_up
  connect_install
  require_free_port "Kafka Connect" "$CONNECT_PORT"
  connect_configure
  if [ -f "$CONNECT_LOG" ]; then mv -f "$CONNECT_LOG" "$CONNECT_LOG.prev"; fi
  local java start=$SECONDS
  java="$(kafka_java)"
  log "connect: starting Kafka Connect $CONNECT_VERSION (distributed) on $CONNECT_URL against $(kafka_url), log $CONNECT_LOG"
  setsid "$java" "${CONNECT_JVM_OPTS[@]}" "-Dlog4j2.configurationFile=$CONNECT_DIR/log4j2.properties" \
    -cp "$CONNECT_LIBS/*" "$CONNECT_MAIN" "$CONNECT_DIR/worker.properties" \
    >>"$CONNECT_OUT" 2>&1 </dev/null 9>&- &
  echo $! >"$CONNECT_PID"
  wait_until "Kafka Connect" "$CONNECT_LOG" connect_running connect_ready
  log "connect: ready in $((SECONDS - start))s"
}

connect_down() {
  if connect_external; then return 0; fi
  stop_pid "Kafka Connect" "$CONNECT_PID" "$CONNECT_MAIN" 60
}

connect_url() { echo "${SLUICE_TEST_CONNECT_URL:-$CONNECT_URL}"; }

connect_is_up() {
  if connect_external; then return 0; fi
  connect_running
}
