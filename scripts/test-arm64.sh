#!/usr/bin/env bash
# The longer arm64 test, as root on Debian 12 amd64: CTest's arm64_guest (tests/arm64/guest_test.sh:
# the cross-built .deb, the BPF unit tier and the ground truth of Go 1.19 and a second Go in one
# boot of Debian's arm64 kernel under qemu-system-aarch64) with the longer guest list
# (DWCP_ARM64_FULL=1: the rest of test_amst and test_dwcp_state with Go 1.19), then the resolver
# on the arm64 builds of both Go versions and the image contexts for both architectures with the
# arm64 .deb just built (tests/arm64/test_image_arches.py).
#   scripts/test-arm64.sh [OUT]       OUT: where the builds go (default build-arm64)
# Caches (outside OUT): DWCP_ARM64_CACHE (root file system), DWCP_KERNEL_CACHE, DWCP_GO_CACHE.
# Exit 77 (skip) without root, the cross compiler or qemu-system-aarch64 (scripts/setup-arm64.sh),
# 1 instead under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-build-arm64}")
[ "$(id -u)" -ne 0 ] || bash scripts/setup-arm64.sh >&2
start=$SECONDS
rc=0
DWCP_ARM64_FULL=1 bash tests/arm64/guest_test.sh "$OUT" || rc=$?
[ $rc -ne 77 ] || exit 77
# The resolver (this machine's dwcp_goelf_tests) on the arm64 builds of both Go versions: every
# function the stripped builds' pclntab lists at the address the plain builds' symtab gives.
goelf=${DWCP_GOELF_TESTS:-build/tests/goelf/dwcp_goelf_tests}
if [ -x "$goelf" ]; then
  for dir in "$OUT"/go*/; do
    GOELF_MATRIX_DIR=$dir "$goelf" --gtest_filter='MatrixBuild.*' --gtest_color=no > "$OUT/goelf.log" 2>&1 || rc=1
    grep -E 'functions match|pclntab|FAILED' "$OUT/goelf.log" | sed 's/^/arm64: goelf: /'
  done
else
  echo "arm64: goelf: $goelf not built (the amd64 build; DWCP_GOELF_TESTS)"
  case ${CI:-} in 1|true|yes) rc=1 ;; esac
fi
DWCP_ARM64_DEB=$(ls "$OUT"/build/dwcp-observer_*_arm64.deb) python3 tests/arm64/test_image_arches.py >&2 || rc=1
echo "arm64: with the resolver and image checks $((SECONDS - start)) s, exit $rc" >&2
exit $rc
