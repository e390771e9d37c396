#!/usr/bin/env bash
# Installs everything dwcp-observer needs on Debian 12, from Debian's archive only.
# Idempotent: skips apt when every package is already there.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  clang llvm libclang-rt-14-dev binutils bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libcapstone-dev
  clang-format clang-tidy
  prometheus-cpp-dev libcivetweb-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libcrypt-dev
  dpkg-dev openssl ccache libseccomp-dev help2man lintian adduser
  libgtest-dev libgmock-dev libbenchmark-dev
  golang-1.19-go
  tmux openssl libssl-dev
  prometheus prometheus-alertmanager
  curl python3 python3-yaml util-linux procps iproute2 bpftrace strace
  qemu-system-x86 busybox-static cpio xz-utils zstd
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update
  # Debian's prometheus packages would start their services where an init system runs;
  # the tests start their own servers on free loopback ports instead.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The arm64 cross compiler and qemu-system-aarch64 (CTest arm64_guest; nothing :arm64).
bash "$(dirname "$0")/setup-arm64.sh"
