#!/usr/bin/env bash
# Builds the benchmark configuration and measures the gateway with caselink-loadgen
# on loopback, in embedded mode (gateway and load generator in one process):
# RUNS closed-loop runs at full speed, then RUNS open-loop runs at half the median
# full-speed rate, and prints the medians of each set. Results stay in the output
# folder as JSON.
#   ops/loadtest.sh [--runs N] [--duration SECONDS] [--workload transfer|mixed]
#                   [--out DIR] [--no-open-loop] [-- extra caselink-loadgen flags]
# Kafka mode: ops/loadtest.sh -- --kafka 127.0.0.1:19092 (the broker of ops/kafka.sh); each
# run also measures the raw produce rate to that broker and the relay's drain time.
# Environment: CASELINK_BENCH_BUILD_DIR (default build-bench), CASELINK_JOBS (default 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CASELINK_BENCH_BUILD_DIR:-$root/build-bench}"

runs=3
duration=20
workload=transfer
out=""
open_loop=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --workload) workload="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-open-loop) open_loop=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "--runs takes a positive number" >&2; exit 2 ;; esac
case "$duration" in ''|*[!0-9]*|0) echo "--duration takes a positive number of seconds" >&2; exit 2 ;; esac
if [ -z "$out" ]; then out="$(mktemp -d "${TMPDIR:-/tmp}/caselink-loadtest-XXXXXX")"; fi
mkdir -p "$out"

"$root/ops/build.sh" "$build" -DCASELINK_BUILD_BENCHMARKS=ON -DCASELINK_BUILD_TESTS=OFF
loadgen="$build/tools/loadgen/caselink-loadgen"

# Each run is bounded: start-up, ceiling and warm-up take well under a minute.
limit=$((duration + 120))
run() {
  local file="$1"; shift
  echo "loadtest: $(basename "$file" .json): caselink-loadgen $*" >&2
  timeout --signal=TERM --kill-after=10 "$limit" "$loadgen" --embedded-gateway --json "$@" >"$file"
}

echo "loadtest: $runs closed-loop run(s) of ${duration}s, workload $workload; results in $out" >&2
closed=()
for i in $(seq 1 "$runs"); do
  run "$out/closed-$i.json" --workload "$workload" --duration "$duration" ${extra[@]+"${extra[@]}"}
  closed+=("$out/closed-$i.json")
done
echo
echo "== closed loop (full speed), medians of $runs runs =="
"$loadgen" --median "${closed[@]}"
"$loadgen" --median "${closed[@]}" --json >"$out/closed-median.json"
max_rate="$("$loadgen" --median "${closed[@]}" --figure throughput_per_second)"

if [ "$open_loop" -eq 1 ]; then
  rate="$(awk -v r="$max_rate" 'BEGIN { printf "%d", r / 2 }')"
  if [ "$rate" -lt 1 ]; then echo "loadtest: no usable full-speed rate; skipping the open loop" >&2; exit 1; fi
  opened=()
  for i in $(seq 1 "$runs"); do
    run "$out/open-$i.json" --workload "$workload" --duration "$duration" --rate "$rate" ${extra[@]+"${extra[@]}"}
    opened+=("$out/open-$i.json")
  done
  echo
  echo "== open loop at $rate/s (half the median full-speed rate), medians of $runs runs =="
  "$loadgen" --median "${opened[@]}"
  "$loadgen" --median "${opened[@]}" --json >"$out/open-median.json"
fi
echo
echo "loadtest: JSON results in $out" >&2
