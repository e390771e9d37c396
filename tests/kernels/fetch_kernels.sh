#!/usr/bin/env bash
# Fetches Debian's stock kernel of one suite (bullseye, bookworm, trixie, forky) and unpacks it
# under a cache outside the repository, without touching the system's apt state:
#   $CACHE/<suite>/vmlinuz, $CACHE/<suite>/lib/modules/<release>/..., $CACHE/<suite>/release
# Re-runs reuse what is there (the suite's package index is refreshed at most once a day).
# Usage: fetch_kernels.sh SUITE...   Env: DWCP_KERNEL_CACHE (default /var/cache/dwcp-observer/kernels),
#        DWCP_DEBIAN_MIRROR (default: the first Debian mirror the system's apt sources name),
#        DWCP_KERNEL_ARCH (default amd64; arm64: Debian's arm64 kernel, into $CACHE/<suite>-arm64).
set -euo pipefail

CACHE=${DWCP_KERNEL_CACHE:-/var/cache/dwcp-observer/kernels}
ARCH=${DWCP_KERNEL_ARCH:-amd64}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

mirror() {
  if [ -n "${DWCP_DEBIAN_MIRROR:-}" ]; then echo "$DWCP_DEBIAN_MIRROR"; return; fi
  # deb822 (URIs: ...) or one-line (deb URI suite ...) sources; the main archive, not security.
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -Eo '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' |
        grep -Eo '[a-z]+://[^[:space:]]+' | grep -E '/debian/?$' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

fetch() {
  local suite=$1 dir=$CACHE/$1
  [ "$ARCH" = amd64 ] || dir=$CACHE/$1-$ARCH
  if [ -s "$dir/release" ] && [ -f "$dir/vmlinuz" ]; then
    echo "kernels: $suite: cached ($(cat "$dir/release"))"
    return 0
  fi
  local apt=$dir/apt
  mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$apt/debs"
  echo "deb [signed-by=$KEYRING] $(mirror) $suite main" > "$apt/sources.list"
  # Everything apt reads or writes lives under $apt; the system's lists and dpkg are untouched.
  local opts=(-o Dir::State="$apt/state" -o Dir::State::status=/dev/null -o Dir::Cache="$apt/cache"
              -o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts="$apt/parts"
              -o Dir::Etc::preferencesparts="$apt/parts" -o APT::Architecture="$ARCH"
              -o APT::Architectures::="$ARCH" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  if [ -z "$(find "$apt/state/lists" -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
    apt-get "${opts[@]}" -qq update
  fi
  # linux-image-$ARCH -> linux-image-<release>-$ARCH (bullseye..trixie: image and modules in one
  # package), forky: -> linux-binary-<release> + linux-modules-<release>.
  local pkgs
  pkgs=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
           --no-breaks --no-replaces --no-enhances --no-pre-depends "linux-image-$ARCH" |
         grep -E "^(linux-image-[0-9][^ ]*-$ARCH|linux-binary-[0-9][^ ]*|linux-modules-[0-9][^ ]*)\$" |
         grep -v -- '-unsigned$' | grep -v -- '-dbg$' | sort -u)
  [ -n "$pkgs" ] || { echo "kernels: $suite: no kernel package found" >&2; return 1; }
  echo "kernels: $suite: downloading" $pkgs
  rm -rf "$dir/root" && mkdir -p "$dir/root"
  (cd "$apt/debs" && rm -f ./*.deb && apt-get "${opts[@]}" -qq download $pkgs)
  for deb in "$apt/debs"/*.deb; do dpkg -x "$deb" "$dir/root"; done
  # boot/vmlinuz-<release> until trixie; forky ships usr/lib/modules/<release>/vmlinuz.
  local vmlinuz release
  vmlinuz=$(ls "$dir"/root/boot/vmlinuz-* "$dir"/root/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n1 || true)
  [ -n "$vmlinuz" ] || { echo "kernels: $suite: no vmlinuz in" $pkgs >&2; return 1; }
  case $vmlinuz in
    */boot/vmlinuz-*) release=${vmlinuz##*/vmlinuz-} ;;
    *) release=$(basename "$(dirname "$vmlinuz")") ;;
  esac
  local moddir=$dir/root/lib/modules/$release
  [ -d "$moddir" ] || moddir=$dir/root/usr/lib/modules/$release  # trixie and later
  [ -d "$moddir" ] || { echo "kernels: $suite: no modules for $release" >&2; return 1; }
  cp "$vmlinuz" "$dir/vmlinuz"
  rm -rf "$dir/lib" && mkdir -p "$dir/lib/modules" && mv "$moddir" "$dir/lib/modules/$release"
  rm -rf "$dir/root" "$apt/debs"/*.deb
  echo "$release" > "$dir/release"
  echo "kernels: $suite: $release"
}

[ $# -gt 0 ] || set -- bullseye bookworm trixie forky
for suite in "$@"; do fetch "$suite"; done
