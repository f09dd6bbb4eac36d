#!/usr/bin/env bash
# A pinned single-node Apache Kafka broker (KRaft, broker+controller) on loopback, for
# development and the Kafka integration tests. Every command is idempotent.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pom="$root/ops/kafka/pom.xml"
log4j_config="$root/ops/kafka/log4j2.properties"
# The pom is the one place that pins the version; the cache is keyed by it.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"

usage() {
  cat <<EOF
usage: ops/kafka.sh [options] COMMAND [options]

Commands:
  fetch    download Apache Kafka $KAFKA_VERSION and its runtime class path from Maven Central
           into the cache (only when not already there)
  start    write a KRaft config into the run dir, format its storage once, start the broker
           in the background (fetching first if needed); restarts a broker whose
           configuration or certificates changed
  wait     block until the broker answers a metadata request (fails if it died)
  stop     stop the broker and wait for it to exit
  status   print whether the broker runs (exit 0) or not (exit 3)

Options (environment variable in brackets):
  --pki DIR            CaseLink dev PKI: ca/ca.crt, gateway/tls.crt+tls.key   [CASELINK_PKI]
                       (default: the last start's, else <repo>/var/dev-pki if it exists)
  --cache DIR          where fetched jars live (default <repo>/.cache/kafka)    [KAFKA_CACHE]
  --run-dir DIR        config, data, log and pid file (default <repo>/var/kafka) [KAFKA_RUN_DIR]
  --port N             PLAINTEXT listener on 127.0.0.1 (default 19092)        [KAFKA_PORT]
  --ssl-port N         SSL listener, client certificate required (default 19093) [KAFKA_SSL_PORT]
  --controller-port N  KRaft controller listener (default 19094)   [KAFKA_CONTROLLER_PORT]
  --heap SIZE          maximum JVM heap (default 512m)                         [KAFKA_HEAP]
  --timeout SECONDS    how long wait and stop may take (default 120)  [KAFKA_WAIT_TIMEOUT]
Ports and PKI not given are those of the last start in the same run dir.

The PLAINTEXT listener is for development on loopback: its clients (and the broker itself)
are User:ANONYMOUS, a super user. On the SSL listener a certificate's CN is the principal
(User:<agency id>; the gateway's gateway/kafka.crt is User:caselink-gateway); only ACLs grant
access there: apply them from the registry with ops/kafka-acls.sh.
start writes <run dir>/endpoints.env with the bootstrap addresses and the PKI in use.
EOF
}

die() {
  echo "kafka.sh: error: $*" >&2
  exit 1
}
note() { echo "kafka.sh: $*"; }

[ -n "$KAFKA_VERSION" ] || die "cannot read <kafka.version> from $pom"
command=""

pki="${CASELINK_PKI:-}"
cache="${KAFKA_CACHE:-$root/.cache/kafka}"
run_dir="${KAFKA_RUN_DIR:-$root/var/kafka}"
port="${KAFKA_PORT:-}"
ssl_port="${KAFKA_SSL_PORT:-}"
controller_port="${KAFKA_CONTROLLER_PORT:-}"
heap="${KAFKA_HEAP:-512m}"
timeout="${KAFKA_WAIT_TIMEOUT:-120}"

while [ $# -gt 0 ]; do
  case "$1" in
    --pki) pki="${2:?--pki needs a directory}"; shift 2 ;;
    --cache) cache="${2:?--cache needs a directory}"; shift 2 ;;
    --run-dir) run_dir="${2:?--run-dir needs a directory}"; shift 2 ;;
    --port) port="${2:?--port needs a number}"; shift 2 ;;
    --ssl-port) ssl_port="${2:?--ssl-port needs a number}"; shift 2 ;;
    --controller-port) controller_port="${2:?--controller-port needs a number}"; shift 2 ;;
    --heap) heap="${2:?--heap needs a size}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see ops/kafka.sh --help)" ;;
    *)
      [ -z "$command" ] || die "one command at a time (got '$command' and '$1')"
      command="$1"
      shift
      ;;
  esac
done
[ -n "$command" ] || { usage >&2; exit 2; }

libs="$cache/libs"
fetched_marker="$libs/.fetched"
# Absolute paths: the broker's command line names its config, which is how we recognise it.
set_run_paths() {
  if [ -d "$run_dir" ]; then run_dir="$(cd "$run_dir" && pwd)"; fi
  pid_file="$run_dir/kafka.pid"
  endpoints_file="$run_dir/endpoints.env"
  broker_log="$run_dir/broker.log"
}
set_run_paths

# Ports not given stay what the last start in this run dir used, so every command (and a
# repeated start) talks to the same broker.
if [ -f "$endpoints_file" ]; then
  saved_port="$(sed -n 's/^KAFKA_PORT=//p' "$endpoints_file")"
  saved_ssl_port="$(sed -n 's/^KAFKA_SSL_PORT=//p' "$endpoints_file")"
  saved_controller_port="$(sed -n 's/^KAFKA_CONTROLLER_PORT=//p' "$endpoints_file")"
  saved_pki="$(sed -n 's/^CASELINK_PKI=//p' "$endpoints_file")"
fi
port="${port:-${saved_port:-}}"
ssl_port="${ssl_port:-${saved_ssl_port:-}}"
controller_port="${controller_port:-${saved_controller_port:-}}"
port="${port:-19092}"
ssl_port="${ssl_port:-19093}"
controller_port="${controller_port:-19094}"
for p in "$port" "$ssl_port" "$controller_port"; do
  [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "invalid port '$p'"
done
[[ "$timeout" =~ ^[0-9]+$ ]] || die "invalid --timeout '$timeout' (whole seconds)"

require_java() {
  command -v java >/dev/null 2>&1 ||
    die "Java is not installed; the broker needs a Java 17+ runtime (Debian: apt-get install default-jre-headless)"
  local version major
  version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the Java version from 'java -version'"
  [ "$major" -ge 17 ] || die "Java $version is too old; Apache Kafka $KAFKA_VERSION needs Java 17 or later"
}

require_maven() {
  command -v mvn >/dev/null 2>&1 ||
    die "Maven is not installed; fetch needs it to download Kafka from Maven Central (Debian: apt-get install maven)"
}

# Any edit of the pom (a version bump, another jar) invalidates the cache.
fetch_stamp() { echo "kafka $KAFKA_VERSION pom $(sha256sum "$pom" | cut -d' ' -f1)"; }

is_fetched() {
  [ -f "$fetched_marker" ] && [ "$(cat "$fetched_marker")" = "$(fetch_stamp)" ] &&
    [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]
}

cmd_fetch() {
  if is_fetched; then
    note "Apache Kafka $KAFKA_VERSION already in $libs"
    return 0
  fi
  require_java
  require_maven
  mkdir -p "$cache"
  # Two build trees may fetch at once; the second one waits and then finds the jars.
  exec 9>"$cache/.lock"
  flock 9
  if is_fetched; then
    note "Apache Kafka $KAFKA_VERSION already in $libs"
    exec 9>&-
    return 0
  fi
  local staging="$cache/libs.partial" started=$SECONDS
  rm -rf "$staging"
  note "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $libs"
  if ! mvn -B -q -Dstyle.color=never -f "$pom" -Dkafka.cache="$cache" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging" >"$cache/fetch.log" 2>&1; then
    cat "$cache/fetch.log" >&2
    rm -rf "$staging"
    die "Maven could not fetch Apache Kafka $KAFKA_VERSION (Maven's output above, also in $cache/fetch.log)"
  fi
  [ -f "$staging/kafka_2.13-$KAFKA_VERSION.jar" ] ||
    die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $staging"
  rm -rf "$libs" "$cache/target"
  mv "$staging" "$libs"
  fetch_stamp >"$fetched_marker"
  exec 9>&-
  note "fetched $(ls "$libs"/*.jar | wc -l) jars in $((SECONDS - started)) s"
}

# The pid of the broker started from this run dir, if it still runs.
broker_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # A pid file can outlive its process and the pid be reused: check it is our broker.
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $run_dir/server.properties"; then
    echo "$pid"
    return 0
  fi
  return 1
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

resolve_pki() {
  if [ -z "$pki" ]; then pki="${saved_pki:-}"; fi
  if [ -z "$pki" ] && [ -d "$root/var/dev-pki" ]; then pki="$root/var/dev-pki"; fi
  [ -n "$pki" ] || die "no CaseLink PKI: pass --pki DIR or set CASELINK_PKI (create one with: caselinkctl pki init --dir DIR)"
  [ -d "$pki" ] || die "PKI directory '$pki' does not exist (create it with: caselinkctl pki init --dir $pki)"
  pki="$(cd "$pki" && pwd)"
  local f
  for f in ca/ca.crt gateway/tls.crt gateway/tls.key; do
    [ -r "$pki/$f" ] || die "PKI '$pki' lacks $f (expected the layout of caselinkctl pki init)"
  done
}

java_options=(-Xms128m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$log4j_config" -cp "$libs/*")

# Writes the broker's config and PEM key store into $1 (a directory).
write_config() {
  local dir="$1"
  mkdir -p "$dir/ssl"
  # Kafka reads PEM key stores directly, but wants the key as PKCS#8 next to the chain.
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed (Debian: apt-get install openssl)"
  (
    umask 077
    openssl pkey -in "$pki/gateway/tls.key" >"$dir/ssl/broker.pem" ||
      die "cannot read the broker key $pki/gateway/tls.key"
    cat "$pki/gateway/tls.crt" >>"$dir/ssl/broker.pem"
  )
  cp "$pki/ca/ca.crt" "$dir/ssl/ca.pem"

  cat >"$dir/server.properties" <<EOF
# Generated by ops/kafka.sh: a single-node KRaft development broker on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$ssl_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$ssl_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$run_dir/data

# One node: every internal topic has one replica.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
# Few partitions for the internal topics: a development broker starts and loads faster.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# On restart the controller refuses the broker's registration until the previous session
# expires; a short session keeps a restart quick.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
# Topics are created on purpose (TopicAdmin), never by a typo in a producer.
auto.create.topics.enable=false

# KRaft ACLs. The broker reaches itself over PLAINTEXT/CONTROLLER as User:ANONYMOUS, so that
# principal (the loopback development listener) is a super user; SSL clients, the gateway
# included, get only what ACLs grant them (ops/kafka-acls.sh).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
# "CN=510100.psb,O=..." -> User:510100.psb
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT

listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$run_dir/ssl/broker.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$run_dir/ssl/ca.pem
listener.name.ssl.ssl.enabled.protocols=TLSv1.3,TLSv1.2
EOF
}

config_digest() {
  cat "$1/server.properties" "$1/ssl/broker.pem" "$1/ssl/ca.pem" | sha256sum | cut -d' ' -f1
}

cmd_start() {
  require_java
  resolve_pki
  cmd_fetch
  mkdir -p "$run_dir" || die "cannot create the run directory $run_dir"
  set_run_paths
  # Render the wanted configuration aside, so a running broker can be compared with it.
  local staging="$run_dir/.next"
  rm -rf "$staging"
  write_config "$staging"
  local wanted current=""
  wanted="$(config_digest "$staging")"
  [ -f "$run_dir/server.properties" ] && [ -f "$run_dir/ssl/broker.pem" ] && current="$(config_digest "$run_dir")"

  local pid
  if pid="$(broker_pid)"; then
    if [ "$wanted" = "$current" ]; then
      rm -rf "$staging"
      note "already running (pid $pid)"
      return 0
    fi
    note "configuration or certificates changed; restarting the broker (pid $pid)"
    cmd_stop
  fi

  for p in "$port" "$ssl_port" "$controller_port"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use by another process (choose others with --port/--ssl-port/--controller-port)"
  done

  mkdir -p "$run_dir/ssl"
  mv -f "$staging/server.properties" "$run_dir/server.properties"
  mv -f "$staging/ssl/broker.pem" "$run_dir/ssl/broker.pem"
  mv -f "$staging/ssl/ca.pem" "$run_dir/ssl/ca.pem"
  rm -rf "$staging"

  if [ ! -f "$run_dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java "${java_options[@]}" kafka.tools.StorageTool random-uuid 2>>"$broker_log")" ||
      die "kafka.tools.StorageTool random-uuid failed (see $broker_log)"
    if ! java "${java_options[@]}" kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
        -c "$run_dir/server.properties" >>"$broker_log" 2>&1; then
      tail -n 20 "$broker_log" >&2
      die "formatting the storage in $run_dir/data failed"
    fi
  fi

  {
    echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
    echo "KAFKA_SSL_BOOTSTRAP=127.0.0.1:$ssl_port"
    echo "KAFKA_PORT=$port"
    echo "KAFKA_SSL_PORT=$ssl_port"
    echo "KAFKA_CONTROLLER_PORT=$controller_port"
    echo "CASELINK_PKI=$pki"
  } >"$endpoints_file"

  # Keep one previous log; remember where this run's lines begin (for wait's fallback).
  if [ -f "$broker_log" ] && [ "$(stat -c %s "$broker_log")" -gt $((64 * 1024 * 1024)) ]; then
    mv -f "$broker_log" "$broker_log.1"
  fi
  touch "$broker_log"
  stat -c %s "$broker_log" >"$run_dir/broker.log.start"
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting Apache Kafka $KAFKA_VERSION" >>"$broker_log"
  # Own session, no inherited descriptors: the broker outlives this script and the caller
  # (a terminal, ctest) does not wait on its output.
  setsid java "${java_options[@]}" kafka.Kafka "$run_dir/server.properties" </dev/null >>"$broker_log" 2>&1 &
  echo $! >"$pid_file"
  sleep 1
  if ! broker_pid >/dev/null; then
    tail -n 30 "$broker_log" >&2
    die "the broker exited right after starting (log: $broker_log)"
  fi
  note "started Apache Kafka $KAFKA_VERSION (pid $(cat "$pid_file")): PLAINTEXT 127.0.0.1:$port, SSL 127.0.0.1:$ssl_port; log $broker_log"
}

cmd_stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$pid_file"
    note "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$((timeout * 10))" ]; then
      note "broker (pid $pid) did not stop within ${timeout} s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$pid_file"
  note "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    echo "running (pid $pid): PLAINTEXT 127.0.0.1:$port, SSL 127.0.0.1:$ssl_port, run dir $run_dir"
    return 0
  fi
  echo "not running (run dir $run_dir)"
  return 3
}

# One metadata round trip over PLAINTEXT; succeeds when the broker lists itself.
probe_metadata() {
  /usr/bin/python3 - "127.0.0.1:$port" <<'EOF' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0})
metadata = admin.list_topics(timeout=3)
sys.exit(0 if metadata.brokers else 1)
EOF
}

cmd_wait() {
  local use_python=1
  if ! /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null; then
    use_python=0
    note "warning: /usr/bin/python3 with confluent_kafka (Debian: python3-confluent-kafka) is missing;" \
      "falling back to the broker's log and a TCP probe"
  fi
  local started=$SECONDS
  while true; do
    if ! broker_pid >/dev/null; then
      [ -f "$broker_log" ] && tail -n 30 "$broker_log" >&2
      die "the broker is not running (run dir $run_dir; start it with ops/kafka.sh start)"
    fi
    if port_open "$port" && port_open "$ssl_port"; then
      if [ "$use_python" = 1 ]; then
        probe_metadata && break
      elif tail -c +"$(($(cat "$run_dir/broker.log.start" 2>/dev/null || echo 0) + 1))" "$broker_log" 2>/dev/null |
          grep -q "Kafka Server started"; then
        break
      fi
    fi
    if [ $((SECONDS - started)) -ge "$timeout" ]; then
      tail -n 30 "$broker_log" >&2 || true
      die "the broker did not answer on 127.0.0.1:$port within $timeout s (log: $broker_log)"
    fi
    sleep 0.5
  done
  note "ready after $((SECONDS - started)) s: PLAINTEXT 127.0.0.1:$port, SSL 127.0.0.1:$ssl_port"
}

case "$command" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
