#!/usr/bin/env bash
# Installs what is missing, builds, creates the development PKI if absent and
# starts the gateway on the embedded default (SQLite, no Kafka) in the foreground.
#   ops/run.sh          serve on 127.0.0.1:7443 until Ctrl-C
#   ops/run.sh --demo   start a gateway, play transfer -> receipt -> filing with the
#                       four demo agencies, print the case timeline, stop, exit 0
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CASELINK_BUILD_DIR:-$root/build}"
pki="${CASELINK_PKI:-$root/var/dev-pki}"

demo=0
case "${1:-}" in
  --demo) demo=1 ;;
  "") ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

"$root/ops/install-deps.sh"
"$root/ops/build.sh" "$build"

if [ ! -f "$pki/gateway.yaml" ]; then
  "$build/tools/caselinkctl" pki init --dir "$pki"
fi

if [ "$demo" -eq 1 ]; then
  exec "$root/ops/demo.sh" "$build" "$pki"
fi
echo "CaseLink gateway: config $pki/gateway.yaml, agencies' certificates under $pki/agencies/"
exec "$build/gateway/caselink-gateway" --config "$pki/gateway.yaml"
