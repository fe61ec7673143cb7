# shellcheck shell=bash
# Apache Kafka 3.9.x, KRaft single node (broker + controller), for the test stack.
# Jars from Maven Central (test/stack/kafka/pom.xml), run with the machine's java.
# Client listener 127.0.0.1:59092, controller 127.0.0.1:59093.
# Sourced by stack.sh after lib.sh.

KAFKA_DIR="$STATE_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_DIR/kafka.out"          # stdout/stderr of the JVM
KAFKA_LOG="$KAFKA_DIR/logs/server.log"    # log4j
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
KAFKA_POM="$STACK_LIB_DIR/kafka/pom.xml"
KAFKA_URL="127.0.0.1:$KAFKA_PORT"

kafka_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; return 0; fi
  command -v java || return 1
}

kafka_install() {
  kafka_java >/dev/null || apt_install default-jre-headless
  local stamp="$KAFKA_LIBS/.complete" want
  want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  local build="$CACHE_DIR/kafka-build" buildlog="$CACHE_DIR/kafka-build.log"
  rm -rf "$build" "$KAFKA_LIBS"
  mkdir -p "$build"
  cp "$KAFKA_POM" "$build/pom.xml"
  if ! mvn -q -B -f "$build/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
      -Dkafka.libs="$KAFKA_LIBS.tmp" dependency:copy-dependencies >"$buildlog" 2>&1; then
    tail -n 30 "$buildlog" >&2
    die "kafka: mvn dependency:copy-dependencies failed; see $buildlog"
  fi
  ls "$KAFKA_LIBS.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null \
    || die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after mvn; see $buildlog"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  rm -rf "$build"
  echo "$want" >"$stamp"
}

kafka_running() { pid_alive "$KAFKA_PID" kafka.Kafka; }

kafka_ready() {
  # The broker logs this once the listeners are up and it has caught up with the
  # metadata log; then the client port must accept connections.
  grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null && port_open "$KAFKA_PORT"
}

kafka_configure() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_DIR/logs"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# sluice test stack: single-node KRaft (combined broker + controller)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
# consumer groups form at once instead of after 3 s
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_LOG
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
EOF
}

KAFKA_JVM_OPTS=(-Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties" "-Dkafka.logs.dir=$KAFKA_DIR/logs")

kafka_format() {
  [ -f "$KAFKA_DATA/meta.properties" ] && return 0
  local cluster_id java
  java="$(kafka_java)"
  # A cluster id is 16 random bytes, base64url without padding (what `random-uuid` prints).
  # It is passed as --cluster-id=ID: one that starts with "-" (1 in 64) would otherwise be
  # read as an option by the tool's argument parser, and the format would fail.
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  log "kafka: formatting $KAFKA_DATA (cluster id $cluster_id)"
  if ! "$java" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      --cluster-id="$cluster_id" -c "$KAFKA_DIR/server.properties" --ignore-formatted >>"$KAFKA_OUT" 2>&1; then
    tail -n 30 "$KAFKA_OUT" >&2
    die "kafka: storage format failed; see $KAFKA_OUT"
  fi
}

# An override that names another server: the stack leaves this one alone. (An override
# equal to the stack's own address, as the test runner passes on, still means ours.)
kafka_external() {
  [ -n "${SLUICE_TEST_KAFKA_BROKERS:-}" ] && [ "${SLUICE_TEST_KAFKA_BROKERS%/}" != "$KAFKA_URL" ]
}

kafka_up() {
  if kafka_external; then
    log "kafka: SLUICE_TEST_KAFKA_BROKERS is set, not starting Kafka"
    return 0
  fi
  if kafka_running; then
    wait_until Kafka "$KAFKA_LOG" kafka_running kafka_ready
    log "kafka: already running on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  kafka_install
  require_free_port Kafka "$KAFKA_PORT"
  require_free_port "Kafka (controller)" "$KAFKA_CONTROLLER_PORT"
  kafka_configure
  kafka_format
  # A fresh log so readiness is judged on this start only.
  if [ -f "$KAFKA_LOG" ]; then mv -f "$KAFKA_LOG" "$KAFKA_LOG.prev"; fi
  local java
  java="$(kafka_java)"
  log "kafka: starting $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT, log $KAFKA_LOG"
  setsid "$java" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$KAFKA_OUT" 2>&1 </dev/null 9>&- &
  echo $! >"$KAFKA_PID"
  wait_until Kafka "$KAFKA_LOG" kafka_running kafka_ready
  log "kafka: ready"
}

kafka_down() {
  if kafka_external; then return 0; fi
  stop_pid Kafka "$KAFKA_PID" kafka.Kafka 60
}

kafka_url() { echo "${SLUICE_TEST_KAFKA_BROKERS:-$KAFKA_URL}"; }

kafka_is_up() {
  if kafka_external; then return 0; fi
  kafka_running
}
