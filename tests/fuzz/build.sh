#!/usr/bin/env bash
# Configures a clang build of the tree with the libFuzzer targets (-DDWCP_BUILD_FUZZERS=ON,
# ASan + UBSan through DWCP_SANITIZE) in BUILD_DIR and builds the given targets (scripts/build.sh:
# ccache, -j$(nproc)). Used by tests/fuzz/run.sh and tests/top/fuzz.sh.
#
#   tests/fuzz/build.sh BUILD_DIR TARGET...     e.g. tests/fuzz/build.sh build-fuzz dwcp_fuzzers
#
# Exit status 77 when clang++ with libFuzzer is not available (CTest: skipped).
set -euo pipefail
build_dir=$(realpath -m "$1")
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clangxx=$(command -v clang++ || command -v clang++-14 || true)
clang=$(command -v clang || command -v clang-14 || true)
if [[ -z $clangxx || -z $clang ]] || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
    "$clangxx" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "SKIPPED: clang++ with libFuzzer (-fsanitize=fuzzer) not found" >&2
  exit 77
fi
mkdir -p "$build_dir"
log=$build_dir/fuzz-build.log
# Only what the fuzz targets need: no benchmarks.
BUILD_DIR=$build_dir BUILD_TARGETS="$*" "$root/scripts/build.sh" \
  -DCMAKE_C_COMPILER="$clang" -DCMAKE_CXX_COMPILER="$clangxx" \
  -DDWCP_BUILD_FUZZERS=ON -DDWCP_SANITIZE=address,undefined -DDWCP_BUILD_BENCHMARKS=OFF >"$log" 2>&1 || {
  tail -40 "$log" >&2
  echo "the fuzz build failed: $log" >&2
  exit 1
}
