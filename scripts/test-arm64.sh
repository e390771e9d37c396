#!/usr/bin/env bash
# The arm64 test, as root on Debian 12 amd64 (CI runs it as a job of its own, beside
# scripts/test.sh: cold it adds more minutes than the main run's budget has, docs/support.md):
# setup (DWCP_ARM64=1 scripts/setup.sh), cross build of the agent, BPF objects, BPF unit tier and
# arm64 Go fixtures, the arm64 .deb, and one boot of Debian's arm64 kernel under
# qemu-system-aarch64 running tests/arm64/arm64_guest.py. Exit as the guest's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
DWCP_ARM64=1 bash scripts/setup.sh
BUILD_DIR=build-arm64 bash scripts/build-arm64.sh
bash scripts/package-arm64.sh
exec python3 tests/arm64/arm64_guest.py build-arm64 build-pkg-arm64
