#!/usr/bin/env bash
# Configures and builds CaseLink with Ninja (two jobs) and ccache.
# Usage: ops/build.sh [BUILD_DIR] [extra cmake -D options...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:-${CASELINK_BUILD_DIR:-$root/build}}"
shift || true
export CCACHE_DIR="${CCACHE_DIR:-$root/.cache/ccache}"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${CASELINK_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
ninja -C "$build_dir" -j "${CASELINK_JOBS:-2}"
