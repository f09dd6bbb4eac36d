#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test suite
# (ctest) and the demo scenario end to end. Exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CASELINK_BUILD_DIR:-$root/build}"

"$root/ops/install-deps.sh"
"$root/ops/build.sh" "$build" -DCASELINK_BUILD_TESTS=ON

cd "$build"
ctest --output-on-failure --timeout 600 -j "${CASELINK_TEST_JOBS:-2}"

# The demo is an acceptance test too: four agencies through transfer -> receipt -> filing.
pki="$(mktemp -d)"
trap 'rm -rf "$pki"' EXIT
"$build/tools/caselinkctl" pki init --dir "$pki" >/dev/null
if "$root/ops/demo.sh" "$build" "$pki" >"$build/demo.log" 2>&1; then
  echo "demo scenario: passed (log in $build/demo.log)"
else
  cat "$build/demo.log"
  echo "demo scenario: FAILED"
  exit 1
fi
