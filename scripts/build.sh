#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR). Uses ccache when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the tree and no build-directory hash: scripts/package.sh's second build
  # (another directory) then hits the objects of this one.
  export CCACHE_BASEDIR="$(pwd)" CCACHE_NOHASHDIR=1
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "$@"
# BUILD_TARGETS="a b": build only those (scripts/demo.sh builds the agent and the fixtures).
cmake --build "$BUILD_DIR" -j"$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
