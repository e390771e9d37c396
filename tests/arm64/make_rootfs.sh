#!/usr/bin/env bash
# Debian 12's arm64 root file system as a plain directory, from Debian's archive: the cross build's
# sysroot (the arm64 -dev packages) and the emulated guest's root (python3 and the tools the tests
# run, busybox for the guest's initramfs). No chroot, no qemu-user, no maintainer scripts: apt with
# a private state resolves the packages (Dir::State::status empty, so every dependency comes), they
# are downloaded and unpacked with tar into a merged-/usr tree, and the few things maintainer
# scripts would make are made here (passwd/group, /bin/sh, a dpkg database that lists the packages
# for package-arm64.sh's Depends and the guest's `dpkg -i`). The guest's init mounts the rest.
# Kept in $DWCP_ARM64_CACHE/rootfs (default /var/cache/dwcp-observer/arm64); rebuilt only when the
# package list below changes. Prints the root's path.
set -euo pipefail
CACHE=${DWCP_ARM64_CACHE:-/var/cache/dwcp-observer/arm64}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Cross build: what CMakeLists.txt finds (-dev packages of the agent, the BPF unit tier's gtest).
DEV=(libbpf-dev libseccomp-dev libelf-dev libdw-dev zlib1g-dev libcapstone-dev prometheus-cpp-dev libcivetweb-dev libssl-dev
     libcrypt-dev libyaml-cpp-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libstdc++-12-dev)
# Guest: the tests' interpreter and tools, busybox for the initramfs, what `dpkg -i` and the
# packages' maintainer scripts run (adduser for the agent's system user).
GUEST=(python3 python3-yaml busybox-static iproute2 procps util-linux mount bpftool base-passwd dash bash
       coreutils dpkg tar sed grep findutils diffutils libc-bin gzip adduser passwd)
KEY=$(printf '%s\n' "${DEV[@]}" "${GUEST[@]}" v3 | sha256sum | cut -c1-12)
ROOT=$CACHE/rootfs
if [ -f "$ROOT/.dwcp-rootfs-$KEY" ]; then
  echo "$ROOT"
  exit 0
fi

mirror() {
  if [ -n "${DWCP_DEBIAN_MIRROR:-}" ]; then echo "$DWCP_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -Eo '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' |
        grep -Eo '[a-z]+://[^[:space:]]+' | grep -E '/debian/?$' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Everything apt reads or writes lives under $apt; this machine's lists and dpkg are untouched.
apt=$CACHE/apt
mkdir -p "$apt/state/lists/partial" "$apt/archives/partial" "$apt/parts"
echo "deb [arch=arm64 signed-by=$KEYRING] $(mirror) bookworm main" > "$apt/sources.list"
opts=(-o Dir::State="$apt/state" -o Dir::State::status=/dev/null -o Dir::Cache="$apt"
      -o Dir::Cache::archives="$apt/archives" -o Dir::Etc::sourcelist="$apt/sources.list"
      -o Dir::Etc::sourceparts="$apt/parts" -o Dir::Etc::preferencesparts="$apt/parts"
      -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Install-Recommends=false
      -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
if [ -z "$(find "$apt/state/lists" -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
  apt-get "${opts[@]}" update >&2
fi
# The closure apt resolves against an empty system (simulated), downloaded as plain files.
mapfile -t pkgs < <(apt-get "${opts[@]}" -s install "${DEV[@]}" "${GUEST[@]}" | awk '$1=="Inst"{print $2}')
[ ${#pkgs[@]} -gt 0 ] || { echo "arm64 rootfs: apt chose no packages" >&2; exit 1; }
echo "arm64 rootfs: downloading ${#pkgs[@]} bookworm arm64 packages ($(mirror))" >&2
rm -rf "$apt/debs" && mkdir -p "$apt/debs"
(cd "$apt/debs" && apt-get "${opts[@]}" download "${pkgs[@]}" >&2)

rm -rf "$ROOT.tmp"
mkdir -p "$ROOT.tmp"/usr/{bin,sbin,lib} "$ROOT.tmp"/var/lib/dpkg/{info,updates} "$ROOT.tmp"/etc
for d in bin sbin lib; do ln -s "usr/$d" "$ROOT.tmp/$d"; done
echo "arm64 rootfs: unpacking ${#pkgs[@]} packages" >&2
status=$ROOT.tmp/var/lib/dpkg/status
for path in "$apt/debs"/*.deb; do
  pkg=$(dpkg-deb -f "$path" Package)
  # Unpack through the merged-/usr links (a real Debian 12 root has them) and keep the file list.
  dpkg-deb --fsys-tarfile "$path" | tar -C "$ROOT.tmp" -x -v --keep-directory-symlink --no-same-owner -f - |
    sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/\?$' > "$ROOT.tmp/var/lib/dpkg/info/$pkg.list" || true
  dpkg-deb -f "$path" | sed '/^Package:/a Status: install ok installed' >> "$status"
  echo >> "$status"
done
touch "$ROOT.tmp/var/lib/dpkg/available"

# What maintainer scripts would have made.
cp "$ROOT.tmp/usr/share/base-passwd/passwd.master" "$ROOT.tmp/etc/passwd"
cp "$ROOT.tmp/usr/share/base-passwd/group.master" "$ROOT.tmp/etc/group"
[ -e "$ROOT.tmp/usr/bin/sh" ] || ln -s dash "$ROOT.tmp/usr/bin/sh"
awk -F: '{print $1 ":*:19000:0:99999:7:::"}' "$ROOT.tmp/etc/passwd" > "$ROOT.tmp/etc/shadow"
awk -F: '{print $1 ":*::"}' "$ROOT.tmp/etc/group" > "$ROOT.tmp/etc/gshadow"
chmod 640 "$ROOT.tmp/etc/shadow" "$ROOT.tmp/etc/gshadow"
# PAM's common-* files (libpam-runtime's pam-auth-update writes them): the packages' adduser runs
# chfn, whose PAM stack includes them and aborts without them.
for t in auth account password session session-noninteractive; do
  kind=${t%-noninteractive}
  printf '%s required pam_unix.so\n%s required pam_permit.so\n' "$kind" "$kind" > "$ROOT.tmp/etc/pam.d/common-$t"
done
echo dwcp-arm64 > "$ROOT.tmp/etc/hostname"
mkdir -p "$ROOT.tmp"/{proc,sys,dev,run,tmp,root,var/tmp,host} && chmod 1777 "$ROOT.tmp/tmp" "$ROOT.tmp/var/tmp"
# Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/...) would point into this machine's root
# when the tree is a sysroot: make them relative (the guest resolves either the same way).
find "$ROOT.tmp/usr/lib" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$ROOT.tmp$(readlink "$link")")" "$link"
done
rm -rf "$ROOT" "$apt/debs" && mv "$ROOT.tmp" "$ROOT"
touch "$ROOT/.dwcp-rootfs-$KEY"
echo "$ROOT"
