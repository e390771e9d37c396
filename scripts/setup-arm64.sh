#!/usr/bin/env bash
# Installs what the arm64 build and its test need on Debian 12 (amd64), from Debian's archive only,
# and never an :arm64 package into this machine (Debian 12's prometheus-cpp, yaml-cpp and civetweb
# -dev packages are not co-installable across architectures: the amd64 ones would go). The host
# gets the cross compiler and qemu-system-aarch64; the arm64 -dev packages live in a directory
# unpacked from Debian's arm64 packages (tests/arm64/make_rootfs.sh), which is both the cross
# build's sysroot and the emulated guest's root. Idempotent: skips apt when everything is there.
# Called by scripts/setup.sh.
set -euo pipefail

HOST=(g++-aarch64-linux-gnu gcc-aarch64-linux-gnu qemu-system-arm)
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
