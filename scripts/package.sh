#!/usr/bin/env bash
# Builds the Debian packages (dwcp-observer, dwcp-observer-dev) into $PKG_BUILD_DIR (default
# build-pkg/): a build of the agent and the hook library only, installed under /usr, whose default
# probe profile is the installed one. Prints the paths of the .deb files.
#
#   bash scripts/package.sh            # -> build-pkg/dwcp-observer_0.1.0_amd64.deb, ..-dev_...
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PKG_BUILD_DIR=${PKG_BUILD_DIR:-build-pkg}
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Same objects as build/ wherever the build directory is: ccache hits for all but profile.cpp.
  export CCACHE_BASEDIR="$SRC" CCACHE_NOHASHDIR=1
fi
cmake -S . -B "$PKG_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DCMAKE_INSTALL_PREFIX=/usr -DDWCP_BUILD_TESTS=OFF -DDWCP_BUILD_BENCHMARKS=OFF \
  -DDWCP_DEFAULT_PROFILE=/usr/share/dwcp-observer/probes/novacron-dwcp.json >/dev/null
cmake --build "$PKG_BUILD_DIR" -j"$(nproc)" --target dwcp-observer dwcp-observer-man dwcp_openssl3_shim dwcp_hooks dwcp_hooks_static dwcp_hooks_bundle
cd "$PKG_BUILD_DIR"
rm -f ./*.deb
# Debian packages carry stripped binaries (cpack installs with strip when asked).
cpack -G DEB -D CPACK_STRIP_FILES=ON >/dev/null
ls -1 "$(pwd)"/*.deb
