#!/usr/bin/env bash
# Cross-builds for arm64 into ./build-arm64 (or $BUILD_DIR): the agent, the BPF objects, the BPF
# unit tier and the Go fixtures (GOARCH=arm64), against Debian 12's arm64 root file system as
# sysroot (tests/arm64/make_rootfs.sh). BUILD_TARGETS="a b" builds only those.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-arm64}
bash scripts/setup-arm64.sh >&2
sysroot=$(bash tests/arm64/make_rootfs.sh)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$(pwd)" CCACHE_NOHASHDIR=1
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_TOOLCHAIN_FILE="$(pwd)/cmake/toolchain-arm64.cmake" \
  -DDWCP_ARM64_SYSROOT="$sysroot" -DDWCP_BUILD_BENCHMARKS=OFF "${launcher[@]}" "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target ${BUILD_TARGETS:-dwcp-observer dwcp_bpf_unit_tests dwcp_fixtures}
