#!/usr/bin/env bash
# The arm64 Debian packages, cross-built (scripts/package.sh is the amd64 one): configured as
# package.sh does, with cmake/toolchain-arm64.cmake; Depends from the sysroot's dpkg database
# (the package owning each library the agent links, at the version the sysroot holds), since
# dpkg-shlibdeps only knows this machine's packages. Prints the .deb paths.
# DWCP_PKG_WITH_TESTS=1 builds the BPF unit tier in the same tree too (tests/arm64/guest_test.sh:
# one compile serves the package and the guest test, which runs the installed binary). cpack
# installs what the build above made, without building `all` first (the other test programs,
# which cannot run here to list their tests). Compiled without -g: cpack strips the binaries, and
# debug info is a third to a half of the cross compile's time (the code is the same).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PKG_BUILD_DIR=${PKG_BUILD_DIR:-build-pkg-arm64}
bash scripts/setup-arm64.sh >&2
sysroot=$(bash tests/arm64/make_rootfs.sh)
tests=OFF extra=()
[ "${DWCP_PKG_WITH_TESTS:-0}" = 1 ] && tests=ON extra=(dwcp_bpf_unit_tests)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$SRC" CCACHE_NOHASHDIR=1
fi
configure() {
  cmake -S . -B "$PKG_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
    -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/toolchain-arm64.cmake" -DDWCP_ARM64_SYSROOT="$sysroot" \
    -DCMAKE_INSTALL_PREFIX=/usr -DDWCP_BUILD_TESTS=$tests -DDWCP_BUILD_BENCHMARKS=OFF \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
    -DDWCP_DEFAULT_PROFILE=/usr/share/dwcp-observer/probes/novacron-dwcp.json "$@" >/dev/null
}
configure
cmake --build "$PKG_BUILD_DIR" -j"$(nproc)" --target dwcp-observer dwcp_openssl3_shim dwcp_hooks dwcp_hooks_static dwcp_hooks_bundle \
  "${extra[@]}" >&2

depends=()
for lib in $(aarch64-linux-gnu-readelf -d "$PKG_BUILD_DIR/userspace/agent/dwcp-observer" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
  list=$(grep -lE "/$(printf %s "$lib" | sed 's/[.+]/\\&/g')\$" "$sysroot"/var/lib/dpkg/info/*.list | head -n1 || true)
  [ -n "$list" ] || { echo "package-arm64: no package in the sysroot holds $lib" >&2; exit 1; }
  pkg=$(basename "$list" .list); pkg=${pkg%:arm64}
  version=$(awk -v p="$pkg" '$1=="Package:"{n=$2} $1=="Version:" && n==p {print $2; exit}' "$sysroot/var/lib/dpkg/status")
  depends+=("$pkg (>= $version)")
done
configure -DDWCP_CROSS_AGENT_DEPENDS="$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"
cd "$PKG_BUILD_DIR"
rm -f ./*.deb
cpack -G DEB -D CPACK_STRIP_FILES=ON >/dev/null
ls -1 "$(pwd)"/*.deb
