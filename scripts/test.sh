#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite. BPF tests need root; with CI=true
# they fail instead of skipping when BPF is unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 "$@"
