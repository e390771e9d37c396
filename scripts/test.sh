#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite, then the unit tier under ASan and
# UBSan (scripts/test-sanitize.sh, its own build directory). BPF tests need root; with CI=true they
# fail instead of skipping when BPF is unavailable. Arguments go to the main ctest; with any, the
# sanitized tier is left out (a chosen subset was asked for).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
status=0
(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 "$@") || status=$?
if [[ $# -eq 0 ]]; then
  scripts/test-sanitize.sh || status=1
fi
exit $status
