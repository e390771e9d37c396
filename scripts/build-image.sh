#!/usr/bin/env bash
# Builds the container image localhost/dwcp-observer:VERSION with podman from the Debian packages,
# for amd64 and arm64: one image per architecture (localhost/dwcp-observer:VERSION-ARCH, from
# scripts/package.sh and scripts/package-arm64.sh) and a manifest list
# localhost/dwcp-observer:VERSION naming both, so a node pulls its own. No registry needed: the
# Debian 12 base of each architecture is made with debootstrap from Debian's archive and
# `podman import`ed once (localhost/debian-bookworm-base:ARCH).
#
#   bash scripts/build-image.sh                 # root (or rootless podman with subuids)
#   ARCHES=amd64 bash scripts/build-image.sh    # one architecture only
#   MIRROR=http://deb.debian.org/debian bash scripts/build-image.sh
#   PODMAN_BUILD_OPTS=--isolation=chroot bash scripts/build-image.sh   # where crun cannot make cgroups
#   DEBS="amd64=/path/a.deb arm64=/path/b.deb"  # packages already built
#   CONTEXT_ONLY=DIR bash scripts/build-image.sh   # only the build contexts, DIR/ARCH (no podman)
#
# The foreign architecture's RUN step (apt-get inside the arm64 image on an amd64 machine) and its
# debootstrap run arm64 programs: they need qemu-user-static with binfmt_misc registered.
# tests/arm64/test_image_arches.py checks all this without podman.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${MIRROR:-http://deb.debian.org/debian}
VERSION=$(sed -n 's/^project(dwcp-observer VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
IMAGE=localhost/dwcp-observer:$VERSION
read -r -a arches <<< "${ARCHES:-amd64 arm64}"
if [ -z "${CONTEXT_ONLY:-}" ]; then
  for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || { echo "build-image: $tool missing: apt-get install podman debootstrap" >&2; exit 1; }
  done
fi

deb_of() {  # the agent's package for one architecture: given in DEBS, else built
  local arch=$1 given
  for given in ${DEBS:-}; do
    [ "${given%%=*}" = "$arch" ] && { echo "${given#*=}"; return; }
  done
  case $arch in
    amd64) bash scripts/package.sh | grep '/dwcp-observer_.*_amd64\.deb$' ;;
    arm64) bash scripts/package-arm64.sh | grep '/dwcp-observer_.*_arm64\.deb$' ;;
    *) echo "build-image: no package build for $arch" >&2; return 1 ;;
  esac
}

# The build context of one architecture: the Containerfile and that architecture's package under
# the name the Containerfile derives from TARGETARCH.
context_of() {
  local arch=$1 dir=$2 deb
  deb=$(deb_of "$arch")
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "build-image: $deb is not $arch" >&2; return 1; }
  mkdir -p "$dir"
  cp "$deb" "$dir/dwcp-observer-$arch.deb"
  cp packaging/Containerfile "$dir/"
  for extra in packaging/image-rootfs.sh; do [ -f "$extra" ] && cp "$extra" "$dir/"; done
  return 0
}

if [ -n "${CONTEXT_ONLY:-}" ]; then
  for arch in "${arches[@]}"; do context_of "$arch" "$CONTEXT_ONLY/$arch"; echo "$CONTEXT_ONLY/$arch"; done
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if podman manifest exists "$IMAGE"; then podman manifest rm "$IMAGE" >/dev/null; fi
podman manifest create "$IMAGE" >/dev/null
for arch in "${arches[@]}"; do
  base=localhost/debian-bookworm-base:$arch
  if ! podman image exists "$base"; then
    root=$work/base-$arch
    debootstrap --arch="$arch" --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
    echo "deb $MIRROR bookworm main" > "$root/etc/apt/sources.list"
    tar -C "$root" -c . | podman import --arch "$arch" - "$base" >/dev/null
    rm -rf "$root"
  fi
  context_of "$arch" "$work/$arch"
  podman build --network=host ${PODMAN_BUILD_OPTS:-} --platform "linux/$arch" --build-arg BASE="$base" \
    --build-arg TARGETARCH="$arch" -t "$IMAGE-$arch" "$work/$arch"
  podman manifest add "$IMAGE" "containers-storage:$IMAGE-$arch" >/dev/null
done
echo "$IMAGE"
