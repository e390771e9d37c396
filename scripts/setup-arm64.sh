#!/usr/bin/env bash
# Installs what the arm64 build and its test need on Debian 12 (amd64), from Debian's archive only,
# and never an :arm64 package into this machine (Debian 12's prometheus-cpp, yaml-cpp and civetweb
# -dev packages are not co-installable across architectures: the amd64 ones would go). The host
# gets the cross compiler, qemu-system-aarch64 and what builds the arm64 root file system
# (mmdebstrap + qemu-user-static); the arm64 -dev packages live in that root file system, which
# is both the cross build's sysroot and the emulated guest's root (tests/arm64/make_rootfs.sh).
# Idempotent: skips apt when everything is there. Called by scripts/setup.sh when DWCP_ARM64=1.
set -euo pipefail

HOST=(g++-aarch64-linux-gnu gcc-aarch64-linux-gnu qemu-system-arm qemu-user-static binfmt-support mmdebstrap
      arch-test)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${HOST[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-arm64: installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
# mmdebstrap's second stage runs arm64 programs through binfmt_misc (containers may lack the mount).
[ -e /proc/sys/fs/binfmt_misc/status ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || $SUDO update-binfmts --enable qemu-aarch64 || true
