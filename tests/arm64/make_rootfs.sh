#!/usr/bin/env bash
# Builds Debian 12's arm64 root file system once, from Debian's archive (mmdebstrap --arch=arm64,
# its second stage under qemu-user-static): the cross build's sysroot (the :arm64 -dev packages)
# and the emulated guest's root (python3 for the tests, the agent's runtime libraries, busybox for
# the guest's initramfs). Kept in $DWCP_ARM64_CACHE/rootfs (default /var/cache/dwcp-observer/arm64);
# rebuilt only when the package list below changes. Prints the root's path.
set -euo pipefail
cd "$(dirname "$0")"
CACHE=${DWCP_ARM64_CACHE:-/var/cache/dwcp-observer/arm64}

# Cross build: what CMakeLists.txt finds (-dev packages of the agent, the BPF unit tier's gtest).
DEV=(libbpf-dev libelf-dev libdw-dev zlib1g-dev libcapstone-dev prometheus-cpp-dev libcivetweb-dev libssl-dev
     libcrypt-dev libyaml-cpp-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libstdc++-12-dev)
# Guest: the integration tests' interpreter and tools, and busybox for the initramfs.
GUEST=(python3 python3-yaml busybox-static iproute2 procps util-linux kmod ca-certificates bpftool)
KEY=$(printf '%s\n' "${DEV[@]}" "${GUEST[@]}" | sha256sum | cut -c1-12)
ROOT=$CACHE/rootfs
if [ -f "$ROOT/.dwcp-rootfs-$KEY" ]; then
  echo "$ROOT"
  exit 0
fi

mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -Eo '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' |
        grep -Eo '[a-z]+://[^[:space:]]+' | grep -E '/debian/?$' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

mkdir -p "$CACHE"
rm -rf "$ROOT.tmp"
include=$(IFS=,; echo "${DEV[*]},${GUEST[*]}")
echo "arm64 rootfs: mmdebstrap --arch=arm64 bookworm ($(mirror))" >&2
mmdebstrap --arch=arm64 --variant=minbase --mode=root --include="$include" --skip=cleanup/apt/lists \
  --aptopt='APT::Install-Recommends "false"' bookworm "$ROOT.tmp" "deb $(mirror) bookworm main" >&2
# Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/...) would point into this machine's root
# when the tree is a sysroot: make them relative (the guest resolves either the same way).
find "$ROOT.tmp/usr/lib" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$ROOT.tmp$(readlink "$link")")" "$link"
done
rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
touch "$ROOT/.dwcp-rootfs-$KEY"
echo "$ROOT"
