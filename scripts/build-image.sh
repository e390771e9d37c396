#!/usr/bin/env bash
# Builds the container image localhost/dwcp-observer:VERSION with podman from the Debian package
# (scripts/package.sh). No registry needed: the Debian 12 base image is made with debootstrap from
# Debian's archive and `podman import`ed once (localhost/debian-bookworm-base).
#
#   bash scripts/build-image.sh                 # root (or rootless podman with subuids)
#   MIRROR=http://deb.debian.org/debian bash scripts/build-image.sh
#   PODMAN_BUILD_OPTS=--isolation=chroot bash scripts/build-image.sh   # where crun cannot make cgroups
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${MIRROR:-http://deb.debian.org/debian}
VERSION=$(sed -n 's/^project(dwcp-observer VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
BASE=localhost/debian-bookworm-base:latest
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool missing: apt-get install podman debootstrap" >&2; exit 1; }
done

if ! podman image exists "$BASE"; then
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
  echo "deb $MIRROR bookworm main" > "$root/etc/apt/sources.list"
  tar -C "$root" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$root"
fi

deb=$(bash scripts/package.sh | grep '/dwcp-observer_.*\.deb$')
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$deb" "$context/dwcp-observer.deb"
cp packaging/Containerfile packaging/image-rootfs.sh "$context/"
podman build --network=host ${PODMAN_BUILD_OPTS:-} --build-arg BASE="$BASE" -t "localhost/dwcp-observer:$VERSION" "$context"
echo "localhost/dwcp-observer:$VERSION"
