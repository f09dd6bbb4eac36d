#!/usr/bin/env bash
# Soak: one gateway process under a steady open-loop load for a long time, its
# RSS sampled from /proc, to show whether memory grows. Starts the gateway with a
# new dev PKI and data dir (removed afterwards), then runs caselink-loadgen
# back to back (each run at most 200 s: envelopes are signed before a run and
# the gateway accepts them for 300 s), and prints the RSS samples and the
# growth over the second half.
#   ops/soak.sh [--minutes N] [--rate N] [--out DIR] [-- extra caselink-loadgen flags]
# e.g. ops/soak.sh --minutes 10 --rate 2000 -- --api stream
# Environment: CASELINK_BENCH_BUILD_DIR (default build-bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CASELINK_BENCH_BUILD_DIR:-$root/build-bench}"
minutes=10
rate=400
out=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$minutes" in ''|*[!0-9]*|0) echo "--minutes takes a positive number" >&2; exit 2 ;; esac
case "$rate" in ''|*[!0-9]*|0) echo "--rate takes a positive number of handoffs per second" >&2; exit 2 ;; esac
if [ -z "$out" ]; then out="$(mktemp -d "${TMPDIR:-/tmp}/caselink-soak-XXXXXX")"; fi
mkdir -p "$out"

"$root/ops/build.sh" "$build" -DCASELINK_BUILD_BENCHMARKS=ON -DCASELINK_BUILD_TESTS=OFF
work="$(mktemp -d "${TMPDIR:-/tmp}/caselink-soak-gateway-XXXXXX")"
gateway_pid=""
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$build/tools/caselinkctl" pki init --dir "$work/pki" >/dev/null
"$build/gateway/caselink-gateway" --config "$work/pki/gateway.yaml" --listen 127.0.0.1:0 \
  --ready-file "$work/port" --metrics 127.0.0.1:0 --metrics-ready-file "$work/metrics-port" \
  >"$out/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "soak: the gateway did not start; see $out/gateway.log" >&2; exit 1; }

# RSS every 20 s, with the seconds since the start.
start=$(date +%s)
(
  while kill -0 "$gateway_pid" 2>/dev/null; do
    rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$gateway_pid/status" 2>/dev/null || true)
    [ -n "$rss_kib" ] && echo "$(( $(date +%s) - start )) $rss_kib"
    sleep 20
  done
) >"$out/rss.txt" &
sampler_pid=$!

deadline=$(( start + minutes * 60 ))
run=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  run=$((run + 1))
  left=$(( deadline - $(date +%s) ))
  duration=$(( left < 200 ? left : 200 ))
  [ "$duration" -lt 5 ] && break
  echo "soak: run $run: ${duration} s at ${rate}/s" >&2
  "$build/tools/loadgen/caselink-loadgen" --target "127.0.0.1:$(cat "$work/port")" --pki "$work/pki" \
    --gateway-pid "$gateway_pid" --gateway-metrics "127.0.0.1:$(cat "$work/metrics-port")" \
    --duration "$duration" --rate "$rate" --no-ceiling \
    ${extra[@]+"${extra[@]}"} >"$out/run-$run.txt" 2>&1 || { echo "soak: run $run failed; see $out/run-$run.txt" >&2; exit 1; }
  grep -E '^(run|latency|errors|gateway):|held in the gateway' "$out/run-$run.txt" | sed 's/^/    /' >&2
done
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

echo
echo "== gateway RSS (MiB) every 20 s over ${minutes} min at ${rate}/s =="
awk '{ printf "%5d s  %7.1f\n", $1, $2 / 1024 }' "$out/rss.txt"
awk -v half=$(( minutes * 30 )) '
  $1 >= half && !seen { first = $2; seen = 1 }
  { last = $2; if ($2 > peak) peak = $2 }
  END {
    if (!seen) { print "too few samples"; exit }
    printf "second half: %.1f -> %.1f MiB (%+.1f MiB); peak %.1f MiB\n", first / 1024, last / 1024, (last - first) / 1024, peak / 1024
  }' "$out/rss.txt"
echo "soak: results in $out" >&2
