#!/usr/bin/env bash
# The unit tier (ctest -L unit: GoogleTest binaries that need no root) under ASan and UBSan, from a
# build directory of its own ($SANITIZE_BUILD_DIR, default build-asan) configured with
# DWCP_SANITIZE=address,undefined. Builds only what that tier needs (target dwcp_unit_tests), with
# ccache like scripts/build.sh. Any sanitizer report fails its test. scripts/test.sh runs it after
# the main suite; by hand: scripts/test-sanitize.sh [ctest arguments, e.g. -R model]
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZE_BUILD_DIR=${SANITIZE_BUILD_DIR:-build-asan}
# No benchmarks, no fuzzers: nothing of the unit tier.
BUILD_DIR=$SANITIZE_BUILD_DIR BUILD_TARGETS=dwcp_unit_tests scripts/build.sh \
  -DDWCP_SANITIZE=address,undefined -DDWCP_BUILD_BENCHMARKS=OFF -DDWCP_BUILD_FUZZERS=OFF
cd "$SANITIZE_BUILD_DIR"
# A report ends the process with a failure status whatever the test did (ASan and LeakSanitizer
# do by default; UBSan is built with -fno-sanitize-recover). Beyond ASan's defaults: stack use
# after return and static initialisation order (cheap here: the tier runs in ~15 s).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ctest -L '^unit$' --output-on-failure --timeout 300 "$@"
