#!/usr/bin/env bash
# CTest goelf_arm64: the resolver on arm64 builds, without an arm64 machine. The DWCP fixture is
# built with GOARCH=arm64 by Debian's Go 1.19 (pclntab 1.18, text start in the header) and Go 1.27
# (pclntab 1.26, text start from moduledata, zero padding before etext) in the four variants, and
# this machine's dwcp_goelf_tests (MatrixBuild) requires every function the stripped builds'
# pclntab lists at the address the plain builds' symtab gives, RETs and stack checks decoded as
# arm64. Go 1.27 comes from scripts/fetch-go.sh (cached in DWCP_GO_CACHE, as the Go matrix's).
#   goelf_arm64.sh GOELF_TESTS OUT
# Exit 77 (skip) when a toolchain cannot be had, 1 instead under CI=true.
set -euo pipefail
goelf=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
rc=0
for version in 1.19 1.27; do
  if ! FIXTURES="dwcp-fixture dwcp-fixture-stripped dwcp-fixture-pie dwcp-fixture-stripped-pie" \
       bash "$here/build_go_fixtures.sh" "$version" "$out/go$version" > "$out.log" 2>&1; then
    cat "$out.log"
    echo "goelf_arm64: no arm64 build with Go $version"
    case ${CI:-} in 1|true|yes) exit 1 ;; *) exit 77 ;; esac
  fi
  echo "goelf_arm64: $(tail -n1 "$out.log" | sed 's/ linux\/amd64$//') -> GOARCH=arm64"
  GOELF_MATRIX_DIR=$out/go$version "$goelf" --gtest_filter='MatrixBuild.*' --gtest_color=no > "$out.log" 2>&1 || rc=1
  grep -E 'functions match|Failure|FAILED|refusing|error' "$out.log" || true
  grep -q '\[  PASSED  \] 1 test' "$out.log" || rc=1
done
exit $rc
