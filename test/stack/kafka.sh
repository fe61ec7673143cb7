# shellcheck shell=bash
# Apache Kafka, KRaft single node (broker + controller), for the test stack. Jars from
# Maven Central (test/stack/kafka/pom.xml for 4.x, pom-3.xml for 3.x), run with the
# machine's java. Sourced by stack.sh after lib.sh and tls.sh.
#
# Two instances:
#   kafka         $KAFKA_VERSION (4.1.1; SLUICE_STACK_KAFKA_VERSION=3.9.2 for 3.9):
#                 PLAINTEXT 127.0.0.1:59092 (what the tests use), controller 59093,
#                 SASL_SSL 127.0.0.1:59096 (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; the stack CA),
#                 and the same SASL_SSL listener on 127.0.0.2:59097, an address the server
#                 certificate does not carry (the wrong-host case).
#   kafka-compat  $KAFKA_COMPAT_VERSION (3.9.2), PLAINTEXT 127.0.0.1:59094, controller 59095,
#                 smaller heap, not started by a plain `up`: test/run.js starts it for its
#                 short compatibility phase (the Kafka transport's tests against 3.9).
#
# Each version keeps its own data dir (data-<version>): a log formatted by 4.x cannot be
# read by 3.9.

# The SASL users the stack creates (test credentials only).
KAFKA_PLAIN_USER=sluice-plain
KAFKA_PLAIN_PASSWORD=sluice-plain-secret
KAFKA_SCRAM256_USER=sluice-scram256
KAFKA_SCRAM256_PASSWORD=sluice-scram256-secret
KAFKA_SCRAM512_USER=sluice-scram512
KAFKA_SCRAM512_PASSWORD=sluice-scram512-secret
# Bumped when the way a data dir is formatted changes (users, SCRAM): older dirs are wiped.
KAFKA_FORMAT_REV=2

# kafka_select main|compat: point the KAFKA_* variables at one instance.
kafka_select() {
  KAFKA_INSTANCE="$1"
  if [ "$1" = compat ]; then
    KAFKA_V="$KAFKA_COMPAT_VERSION"
    KAFKA_DIR="$STATE_DIR/kafka-compat"
    KAFKA_P="$KAFKA_COMPAT_PORT"
    KAFKA_CP="$KAFKA_COMPAT_CONTROLLER_PORT"
    KAFKA_SECURE=0
    KAFKA_HEAP=(-Xmx256m -Xms128m)
    KAFKA_OVERRIDE=""
  else
    KAFKA_V="$KAFKA_VERSION"
    KAFKA_DIR="$STATE_DIR/kafka"
    KAFKA_P="$KAFKA_PORT"
    KAFKA_CP="$KAFKA_CONTROLLER_PORT"
    KAFKA_SECURE=1
    KAFKA_HEAP=(-Xmx512m -Xms256m)
    KAFKA_OVERRIDE="${SLUICE_TEST_KAFKA_BROKERS:-}"
  fi
  KAFKA_DATA="$KAFKA_DIR/data-$KAFKA_V"
  KAFKA_PID="$KAFKA_DIR/kafka.pid"
  KAFKA_OUT="$KAFKA_DIR/kafka.out"          # stdout/stderr of the JVM
  KAFKA_LOG="$KAFKA_DIR/logs/server.log"    # log4j
  # (Not kafka-<version>/libs, where an older stack.sh kept 3.9.2: other stacks may still run from it.)
  KAFKA_LIBS="$CACHE_DIR/kafka/$KAFKA_V/libs"
  case "$KAFKA_V" in
    3.*) KAFKA_POM="$STACK_LIB_DIR/kafka/pom-3.xml" ;;
    *) KAFKA_POM="$STACK_LIB_DIR/kafka/pom.xml" ;;
  esac
  KAFKA_URL="127.0.0.1:$KAFKA_P"
  KAFKA_JVM_OPTS=("${KAFKA_HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties"
    "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" "-Dkafka.logs.dir=$KAFKA_DIR/logs")
}
kafka_select main

kafka_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; return 0; fi
  command -v java || return 1
}

kafka_install() {
  kafka_java >/dev/null || apt_install default-jre-headless
  local stamp="$KAFKA_LIBS/.complete" want
  want="$KAFKA_V $(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "kafka: fetching Kafka $KAFKA_V jars from Maven Central into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS" "$KAFKA_LIBS.tmp"
  mvn_run "kafka-$KAFKA_V" "$KAFKA_POM" dependency:copy-dependencies -Dkafka.version="$KAFKA_V" -Dkafka.libs="$KAFKA_LIBS.tmp"
  ls "$KAFKA_LIBS.tmp"/kafka_2.13-"$KAFKA_V".jar >/dev/null \
    || die "kafka: kafka_2.13-$KAFKA_V.jar missing after mvn; see $CACHE_DIR/kafka-$KAFKA_V-build.log"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
}

# The instance's JVM is alive (its command line names this instance's config).
kafka_running() { pid_alive "$KAFKA_PID" "$KAFKA_DIR/server.properties"; }

# The version the running instance was started with (from its class path).
kafka_running_version() {
  tr '\0' '\n' <"/proc/$(pid_of "$KAFKA_PID")/cmdline" 2>/dev/null | sed -n 's|.*/kafka[-/]\([0-9.]*\)/libs/\*$|\1|p' | head -n1
}

kafka_ready() {
  # The broker logs this once the listeners are up and it has caught up with the
  # metadata log; then the client port must accept connections.
  grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null && port_open "$KAFKA_P"
}

kafka_listeners() {
  local plain="PLAINTEXT://127.0.0.1:$KAFKA_P"
  if [ "$KAFKA_SECURE" = 1 ]; then
    cat <<EOF
listeners=$plain,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT,SASL_SSL_ALT://$TLS_WRONG_HOST:$KAFKA_SASL_ALT_PORT,CONTROLLER://127.0.0.1:$KAFKA_CP
advertised.listeners=$plain,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT,SASL_SSL_ALT://$TLS_WRONG_HOST:$KAFKA_SASL_ALT_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SASL_SSL_ALT:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_DIR/tls/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_DIR/tls/ca.pem
# A client certificate signed by the stack CA is verified when sent (mTLS); none is needed.
ssl.client.auth=requested
EOF
    local l
    for l in sasl_ssl sasl_ssl_alt; do
      cat <<EOF
listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_PLAIN_USER="$KAFKA_PLAIN_PASSWORD";
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    done
  else
    cat <<EOF
listeners=$plain,CONTROLLER://127.0.0.1:$KAFKA_CP
advertised.listeners=$plain
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
  fi
}

kafka_configure() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_DIR/logs"
  if [ "$KAFKA_SECURE" = 1 ]; then
    mkdir -p "$KAFKA_DIR/tls"
    cp -f "$TLS_CA" "$KAFKA_DIR/tls/ca.pem"
    # A PEM key store: the unencrypted PKCS#8 key, then the certificate.
    (umask 077; cat "$TLS_KEY" "$TLS_CERT" >"$KAFKA_DIR/tls/keystore.pem")
  fi
  {
    cat <<EOF
# sluice test stack: single-node KRaft (combined broker + controller), Kafka $KAFKA_V
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CP
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
EOF
    kafka_listeners
    cat <<EOF
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
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# consumer groups form at once instead of after 3 s
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
  } >"$KAFKA_DIR/server.properties"
  # Kafka 3.x logs through reload4j (log4j 1 syntax), 4.x through log4j2.
  cat >"$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_LOG
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
  cat >"$KAFKA_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KAFKA_LOG
appender.file.filePattern = $KAFKA_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
}

kafka_format() {
  local rev="$KAFKA_FORMAT_REV secure=$KAFKA_SECURE"
  if [ -f "$KAFKA_DATA/meta.properties" ] && [ "$(cat "$KAFKA_DATA/.sluice-format" 2>/dev/null)" = "$rev" ]; then
    return 0
  fi
  # Test data: a dir formatted by an older stack.sh (no SCRAM users) is started afresh.
  rm -rf "$KAFKA_DATA" "$KAFKA_DIR/data"
  mkdir -p "$KAFKA_DATA"
  local cluster_id java scram=()
  java="$(kafka_java)"
  # A cluster id is 16 random bytes, base64url without padding (what `random-uuid` prints).
  # It is passed as --cluster-id=ID: one that starts with "-" (1 in 64) would otherwise be
  # read as an option by the tool's argument parser, and the format would fail.
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  if [ "$KAFKA_SECURE" = 1 ]; then
    # KRaft keeps SCRAM credentials in the metadata log: written at format time.
    scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_SCRAM256_USER,password=$KAFKA_SCRAM256_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM512_USER,password=$KAFKA_SCRAM512_PASSWORD]")
  fi
  log "kafka: formatting $KAFKA_DATA (Kafka $KAFKA_V, cluster id $cluster_id)"
  if ! "$java" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      --cluster-id="$cluster_id" -c "$KAFKA_DIR/server.properties" "${scram[@]}" >>"$KAFKA_OUT" 2>&1; then
    tail -n 30 "$KAFKA_OUT" >&2
    die "kafka: storage format failed; see $KAFKA_OUT"
  fi
  echo "$rev" >"$KAFKA_DATA/.sluice-format"
}

# An override that names another server: the stack leaves this one alone. (An override
# equal to the stack's own address, as the test runner passes on, still means ours.)
kafka_external() {
  [ -n "$KAFKA_OVERRIDE" ] && [ "${KAFKA_OVERRIDE%/}" != "$KAFKA_URL" ]
}

kafka_up() {
  if kafka_external; then
    log "kafka: SLUICE_TEST_KAFKA_BROKERS is set, not starting Kafka"
    return 0
  fi
  if kafka_running; then
    local running
    running="$(kafka_running_version)"
    if [ -n "$running" ] && [ "$running" != "$KAFKA_V" ]; then
      log "kafka: $running is running on 127.0.0.1:$KAFKA_P but $KAFKA_V is wanted; restarting it"
      kafka_down
    else
      wait_until "Kafka $KAFKA_V" "$KAFKA_LOG" kafka_running kafka_ready
      log "kafka: $KAFKA_V already running on 127.0.0.1:$KAFKA_P"
      return 0
    fi
  fi
  kafka_install
  require_free_port Kafka "$KAFKA_P"
  require_free_port "Kafka (controller)" "$KAFKA_CP"
  if [ "$KAFKA_SECURE" = 1 ]; then
    require_free_port "Kafka (SASL_SSL)" "$KAFKA_SASL_PORT"
    tls_ensure
  fi
  kafka_configure
  kafka_format
  # A fresh log so readiness is judged on this start only.
  if [ -f "$KAFKA_LOG" ]; then mv -f "$KAFKA_LOG" "$KAFKA_LOG.prev"; fi
  local java
  java="$(kafka_java)"
  log "kafka: starting $KAFKA_V on 127.0.0.1:$KAFKA_P, log $KAFKA_LOG"
  setsid "$java" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$KAFKA_OUT" 2>&1 </dev/null 9>&- &
  echo $! >"$KAFKA_PID"
  wait_until "Kafka $KAFKA_V" "$KAFKA_LOG" kafka_running kafka_ready
  log "kafka: ready"
}

kafka_down() {
  if kafka_external; then return 0; fi
  stop_pid "Kafka $KAFKA_V" "$KAFKA_PID" "$KAFKA_DIR/server.properties" 60
}

kafka_url() { echo "${KAFKA_OVERRIDE:-$KAFKA_URL}"; }

kafka_is_up() {
  if kafka_external; then return 0; fi
  kafka_running
}

# The second Kafka, for the compatibility phase.
kafka_compat_up() { kafka_select compat; kafka_up; kafka_select main; }
kafka_compat_down() { kafka_select compat; kafka_down; kafka_select main; }
kafka_compat_is_up() { local r=0; kafka_select compat; kafka_running || r=1; kafka_select main; return $r; }
kafka_compat_url() { echo "127.0.0.1:$KAFKA_COMPAT_PORT"; }
