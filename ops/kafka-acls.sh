#!/usr/bin/env bash
# Applies the Kafka ACLs of the registry to the local broker (or any cluster): each agency
# reads only its own inbox, the procuratorate also the events topic, agencies write to the
# ingress topic, and the gateway principal gets what the relay and the ingress need.
# The ACLs themselves come from caselink-kafka-acls (gateway/kafka_acls.cc).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
usage: ops/kafka-acls.sh [--config GATEWAY_YAML] [--run-dir DIR] [caselink-kafka-acls options]

  --config FILE   the gateway config whose registry and kafka.topic_prefix are used
                  (default: <repo>/var/dev-pki/gateway.yaml)                 [CASELINK_CONFIG]
  --run-dir DIR   the ops/kafka.sh run dir whose PLAINTEXT listener (a super user on the
                  development broker) creates the ACLs (default <repo>/var/kafka) [KAFKA_RUN_DIR]
  --build DIR     where caselink-kafka-acls was built (default <repo>/build)    [CASELINK_BUILD_DIR]
Other options (--bootstrap, --prefix, --events-reader KIND, --dry-run, TLS) go to
caselink-kafka-acls; see its --help.
EOF
}

die() {
  echo "kafka-acls.sh: error: $*" >&2
  exit 1
}

config="${CASELINK_CONFIG:-$root/var/dev-pki/gateway.yaml}"
run_dir="${KAFKA_RUN_DIR:-$root/var/kafka}"
build="${CASELINK_BUILD_DIR:-$root/build}"
pass=()
bootstrap_given=0
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="${2:?--config needs a file}"; shift 2 ;;
    --run-dir) run_dir="${2:?--run-dir needs a directory}"; shift 2 ;;
    --build) build="${2:?--build needs a directory}"; shift 2 ;;
    --bootstrap) bootstrap_given=1; pass+=("$1" "${2:?--bootstrap needs host:port}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done

tool="$build/tools/kafka_acls/caselink-kafka-acls"
[ -x "$tool" ] || die "$tool is missing; build it with: ninja -C $build caselink-kafka-acls"
[ -f "$config" ] || die "no gateway config at $config (create a dev PKI with: caselinkctl pki init --dir DIR)"
if [ "$bootstrap_given" = 0 ]; then
  endpoints="$run_dir/endpoints.env"
  [ -f "$endpoints" ] || die "no broker endpoints in $endpoints: start one with ops/kafka.sh start, or pass --bootstrap"
  bootstrap="$(sed -n 's/^KAFKA_BOOTSTRAP=//p' "$endpoints")"
  [ -n "$bootstrap" ] || die "$endpoints names no KAFKA_BOOTSTRAP"
  pass+=(--bootstrap "$bootstrap")
fi
exec "$tool" --config "$config" "${pass[@]}"
