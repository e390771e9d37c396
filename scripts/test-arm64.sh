#!/usr/bin/env bash
# The arm64 test, as root on Debian 12 amd64: one cross build of the arm64 .deb (agent, BPF
# objects), the BPF unit tier and the Go 1.19 fixtures, the fixtures of a second
# Go (1.27, scripts/fetch-go.sh), and one boot of Debian's arm64 kernel under qemu-system-aarch64
# running tests/arm64/arm64_guest.py. Prints each step's wall time; exits as the guest's tests.
#   scripts/test-arm64.sh [OUT]       OUT: where the builds go (default build-arm64)
# Caches (outside OUT): DWCP_ARM64_CACHE (root file system), DWCP_KERNEL_CACHE, DWCP_GO_CACHE.
# Also the image contexts for both architectures with the arm64 .deb just built
# (tests/arm64/test_image_arches.py). Exit 77 (skip) without the cross compiler or qemu-system-aarch64 (scripts/setup-arm64.sh),
# 1 instead under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-build-arm64}")
SECOND_GO=${DWCP_ARM64_SECOND_GO:-1.27}
# The cross compiler and qemu-system-aarch64 (nothing :arm64 is installed).
[ "$(id -u)" -ne 0 ] || bash scripts/setup-arm64.sh >&2
for tool in aarch64-linux-gnu-g++ qemu-system-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "arm64: $tool missing (scripts/setup-arm64.sh)"
    case ${CI:-} in 1|true|yes) exit 1 ;; *) exit 77 ;; esac
  fi
done
start=$SECONDS
timed() {
  local name=$1 t=$SECONDS r=0
  shift
  "$@" || r=$?
  echo "arm64: $name took $((SECONDS - t)) s" >&2
  return $r
}
timed "root file system" bash tests/arm64/make_rootfs.sh >/dev/null
# One cross build: the package (what the guest installs and tests) plus the BPF unit tier and the
# Go 1.19 fixtures in the same tree.
timed "cross build and .deb" env DWCP_PKG_WITH_TESTS=1 PKG_BUILD_DIR="$OUT/build" bash scripts/package-arm64.sh >/dev/null
# What the guest runs and the resolver check reads (not the sender-only builds).
timed "Go $SECOND_GO fixtures" env FIXTURES="dwcp-fixture dwcp-fixture-stripped dwcp-fixture-pie dwcp-fixture-stripped-pie not-dwcp" \
  bash tests/arm64/build_go_fixtures.sh "$SECOND_GO" "$OUT/go$SECOND_GO" >/dev/null
rc=0
# The resolver (this machine's dwcp_goelf_tests) on the arm64 builds of both Go versions: every
# function the stripped builds' pclntab lists at the address the plain builds' symtab gives.
goelf=${DWCP_GOELF_TESTS:-build/tests/goelf/dwcp_goelf_tests}
if [ -x "$goelf" ]; then
  for dir in "$OUT/build/tests/fixtures" "$OUT/go$SECOND_GO"; do
    GOELF_MATRIX_DIR=$dir "$goelf" --gtest_filter='MatrixBuild.*' --gtest_color=no > "$OUT/goelf.log" 2>&1 || rc=1
    grep -E 'functions match|pclntab|FAILED' "$OUT/goelf.log" | sed 's/^/arm64: goelf: /'
  done
else
  echo "arm64: goelf: $goelf not built (the amd64 build; DWCP_GOELF_TESTS)"
  case ${CI:-} in 1|true|yes) rc=1 ;; esac
fi
DWCP_ARM64_DEB=$(ls "$OUT"/build/dwcp-observer_*_arm64.deb) python3 tests/arm64/test_image_arches.py >&2 || rc=1
r=0
timed "guest" python3 tests/arm64/arm64_guest.py "$OUT/build" "$OUT/build" "$OUT/go$SECOND_GO" || r=$?
[ $r -eq 0 ] || [ $rc -ne 0 ] || rc=$r
echo "arm64: all steps $((SECONDS - start)) s, exit $rc" >&2
exit $rc
