#!/usr/bin/env bash
# ctest fixture for the real-broker Kafka tests: a fresh CaseLink dev PKI and a fresh broker
# (ops/kafka.sh) on free loopback ports, all under WORK_DIR in the build tree.
# usage: broker_fixture.sh start|stop REPO_DIR CASELINKCTL WORK_DIR
set -euo pipefail
action="$1"
repo="$2"
caselinkctl="$3"
work="$4"
kafka="$repo/ops/kafka.sh"
run="$work/run"

free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 30000))
    # Skip ports that answer, and the ones already chosen.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [[ " ${chosen[*]:-} " != *" $port "* ]]; then
      echo "$port"
      return
    fi
  done
}

case "$action" in
  start)
    # A broker left over from an interrupted run must not outlive its state directory.
    "$kafka" stop --run-dir "$run" >/dev/null
    rm -rf "$work"
    mkdir -p "$work"
    "$caselinkctl" pki init --dir "$work/pki" >/dev/null
    chosen=()
    for _ in 1 2 3; do chosen+=("$(free_port)"); done
    "$kafka" start --pki "$work/pki" --run-dir "$run" \
      --port "${chosen[0]}" --ssl-port "${chosen[1]}" --controller-port "${chosen[2]}"
    "$kafka" wait --run-dir "$run" --timeout 180
    ;;
  stop)
    "$kafka" stop --run-dir "$run"
    ;;
  *)
    echo "usage: broker_fixture.sh start|stop REPO_DIR CASELINKCTL WORK_DIR" >&2
    exit 2
    ;;
esac
