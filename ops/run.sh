#!/usr/bin/env bash
# Installs what is missing, builds, creates the development PKI if absent and
# starts the gateway on the embedded default (SQLite, no Kafka) in the foreground.
#   ops/run.sh              serve on 127.0.0.1:7443 until Ctrl-C
#   ops/run.sh --bus kafka  the same, also publishing to a local Kafka broker (ops/kafka.sh)
#                           over TLS with the gateway's own certificate, under the registry's ACLs
#   ops/run.sh --demo       start a gateway, play transfer -> receipt -> filing with the
#                           four demo agencies, print the case timeline, stop, exit 0
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CASELINK_BUILD_DIR:-$root/build}"
pki="${CASELINK_PKI:-$root/var/dev-pki}"

demo=0
bus=embedded
while [ $# -gt 0 ]; do
  case "$1" in
    --demo) demo=1; shift ;;
    --bus)
      bus="${2:-}"
      [ "$bus" = kafka ] || [ "$bus" = embedded ] || { echo "--bus takes kafka or embedded, not '$bus'" >&2; exit 2; }
      shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$demo" -eq 1 ] && [ "$bus" = kafka ]; then
  echo "--demo runs on the embedded bus; use --bus kafka without --demo" >&2
  exit 2
fi

"$root/ops/install-deps.sh"
"$root/ops/build.sh" "$build"

if [ ! -f "$pki/gateway.yaml" ]; then
  "$build/tools/caselinkctl" pki init --dir "$pki"
fi

if [ "$demo" -eq 1 ]; then
  exec "$root/ops/demo.sh" "$build" "$pki"
fi

config="$pki/gateway.yaml"
if [ "$bus" = kafka ]; then
  if [ ! -f "$pki/gateway/kafka.crt" ]; then
    echo "the PKI in $pki predates the gateway's Kafka client certificate;" \
      "recreate it with: $build/tools/caselinkctl pki init --dir $pki --force" >&2
    exit 1
  fi
  run_dir="${KAFKA_RUN_DIR:-$root/var/kafka}"
  "$root/ops/kafka.sh" start --pki "$pki" --run-dir "$run_dir"
  "$root/ops/kafka.sh" wait --run-dir "$run_dir"
  ssl_bootstrap="$(sed -n 's/^KAFKA_SSL_BOOTSTRAP=//p' "$run_dir/endpoints.env")"
  # gateway.yaml without any kafka section of its own, plus the local broker's; paths are
  # relative to the config's folder, like the rest of it.
  config="$pki/gateway-kafka.yaml"
  {
    awk '/^kafka:/ {skip = 1; next} skip && /^[^ #]/ {skip = 0} !skip' "$pki/gateway.yaml"
    cat <<EOF

# Written by ops/run.sh --bus kafka: the local broker's TLS listener, the gateway's own identity.
kafka:
  bootstrap_servers: "$ssl_bootstrap"
  topic_prefix: "caselink"
  ca_file: ca/ca.crt
  client_certificate_file: gateway/kafka.crt
  client_private_key_file: gateway/kafka.key
EOF
  } >"$config"
  "$root/ops/kafka-acls.sh" --config "$config" --run-dir "$run_dir" --build "$build" >/dev/null
  echo "Kafka: $ssl_bootstrap (TLS), topics caselink.*, ACLs from $pki/registry.yaml; stop the broker with ops/kafka.sh stop"
fi
echo "CaseLink gateway: config $config, agencies' certificates under $pki/agencies/"
exec "$build/gateway/caselink-gateway" --config "$config"
