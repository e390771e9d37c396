#!/usr/bin/env bash
# CTest arm64_guest (and the first part of scripts/test-arm64.sh): as root on Debian 12 amd64,
# the arm64 root file system (make_rootfs.sh), one cross build of the arm64 .deb and the BPF unit
# tier (scripts/package-arm64.sh), the arm64 Go fixtures of two Go versions (build_go_fixtures.sh:
# Debian's 1.19 and a second Go from scripts/fetch-go.sh, their GOCACHEs shared with CTest's
# goelf_arm64), then one boot of Debian's arm64 kernel in qemu-system-aarch64 running
# arm64_guest.py. Prints each step's wall time; exits as the guest's tests.
#   guest_test.sh OUT        OUT: where the builds go (OUT/build, OUT/go<version>)
# Caches (outside OUT): DWCP_ARM64_CACHE (root file system), DWCP_KERNEL_CACHE, DWCP_GO_CACHE.
# DWCP_ARM64_FULL=1 also builds the fixtures' other variants (scripts/test-arm64.sh's resolver
# check reads them) and runs the longer guest list (arm64_guest.py).
# Exit 77 (skip) without root, the cross compiler or qemu-system-aarch64 (scripts/setup-arm64.sh),
# 1 instead under CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$(realpath -m "$1")
GOS=(1.19 "${DWCP_ARM64_SECOND_GO:-1.27}")
unavailable() {
  echo "arm64: $*"
  case ${CI:-} in 1|true|yes) exit 1 ;; *) exit 77 ;; esac
}
[ "$(id -u)" -eq 0 ] || unavailable "not root (the guest's tests load BPF; the .deb installs there)"
for tool in aarch64-linux-gnu-g++ qemu-system-aarch64; do
  command -v "$tool" >/dev/null || unavailable "$tool missing (scripts/setup-arm64.sh)"
done
start=$SECONDS
# timed NAME LOG COMMAND...: COMMAND's output goes to LOG (shown when it fails), its time here.
timed() {
  local name=$1 log=$2 t=$SECONDS r=0
  shift 2
  "$@" > "$log" 2>&1 || r=$?
  echo "arm64: $name took $((SECONDS - t)) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  [ $r -eq 0 ] || tail -n 40 "$log"
  return $r
}
mkdir -p "$OUT"
timed "root file system" "$OUT/rootfs.log" bash tests/arm64/make_rootfs.sh || unavailable "no arm64 root file system"
# The package is what the guest installs and tests; the unit tier comes from the same tree.
timed "cross build and .deb" "$OUT/build.log" \
  env DWCP_PKG_WITH_TESTS=1 PKG_BUILD_DIR="$OUT/build" bash scripts/package-arm64.sh
fixtures="dwcp-fixture dwcp-fixture-stripped-pie not-dwcp"
[ "${DWCP_ARM64_FULL:-0}" != 1 ] || fixtures="$fixtures dwcp-fixture-stripped dwcp-fixture-pie"
dirs=()
for version in "${GOS[@]}"; do
  timed "Go $version fixtures" "$OUT/go$version.log" \
    env FIXTURES="$fixtures" bash tests/arm64/build_go_fixtures.sh "$version" "$OUT/go$version" || unavailable "no Go $version"
  dirs+=("$OUT/go$version")
done
rc=0
# Under CTest's timeout (1800 s): the guest is stopped first, its output kept.
export DWCP_GUEST_TIMEOUT=${DWCP_GUEST_TIMEOUT:-900}
t=$SECONDS
python3 tests/arm64/arm64_guest.py "$OUT/build" "$OUT/build" "${dirs[@]}" || rc=$?
echo "arm64: guest took $((SECONDS - t)) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "arm64: all steps $((SECONDS - start)) s, exit $rc"
exit $rc
