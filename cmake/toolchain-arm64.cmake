# Cross build for arm64 (aarch64) from Debian 12 amd64: Debian's cross compiler
# (g++-aarch64-linux-gnu) against a sysroot that is Debian 12's arm64 root file system with the
# -dev packages in it (tests/arm64/make_rootfs.sh; scripts/setup-arm64.sh installs the rest).
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake [-DDWCP_ARM64_SYSROOT=DIR] ...
# Programs (clang for BPF, bpftool, go) are this machine's own; libraries, headers, CMake and
# pkg-config files come only from the sysroot.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
if(NOT DWCP_ARM64_SYSROOT)
  set(DWCP_ARM64_SYSROOT /var/cache/dwcp-observer/arm64/rootfs)
endif()
set(DWCP_ARM64_SYSROOT ${DWCP_ARM64_SYSROOT} CACHE PATH "arm64 root file system used as sysroot")
set(CMAKE_SYSROOT ${DWCP_ARM64_SYSROOT})
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH ${DWCP_ARM64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${DWCP_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR} ${DWCP_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${DWCP_ARM64_SYSROOT}/usr/share/pkgconfig)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
