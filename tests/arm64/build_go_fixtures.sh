#!/usr/bin/env bash
# The arm64 Go fixtures with a second Go toolchain (scripts/fetch-go.sh VERSION): the four builds
# the ground truth runs on (plain, stripped, PIE, stripped PIE) and the sender-only build, as
# tests/fixtures/CMakeLists.txt builds them, into OUT. Usage: build_go_fixtures.sh VERSION OUT
# FIXTURES="name ..." builds only those (default: all seven below).
set -euo pipefail
version=$1 out=$(realpath -m "$2")
src=$(cd "$(dirname "$0")/../fixtures" && pwd)
goroot=$(bash "$(dirname "$0")/../../scripts/fetch-go.sh" "$version" | awk -v v="$version" '$1==v{print $2}')
[ -x "$goroot/bin/go" ] || { echo "no Go $version" >&2; exit 1; }
mkdir -p "$out"
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux GOARCH=arm64
export GOCACHE=${DWCP_GO_CACHE:-/var/cache/dwcp-observer/go}/gocache-$version-arm64 GOPATH=$out/gopath
build() {
  local name=$1 dir=$2
  shift 2
  case " ${FIXTURES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  (cd "$dir" && "$goroot/bin/go" build -buildvcs=false "$@" -o "$out/$name" "${TARGET:-.}")
}
TARGET=./cmd/dwcp-fixture build dwcp-fixture "$src/dwcp"
TARGET=./cmd/dwcp-fixture build dwcp-fixture-stripped "$src/dwcp" -ldflags="-s -w"
TARGET=./cmd/dwcp-fixture build dwcp-fixture-pie "$src/dwcp" -buildmode=pie
TARGET=./cmd/dwcp-fixture build dwcp-fixture-stripped-pie "$src/dwcp" -buildmode=pie -ldflags="-s -w" -trimpath
build dwcp-sender "$src/dwcp-sender"
build dwcp-sender-stripped-pie "$src/dwcp-sender" -buildmode=pie -ldflags="-s -w" -trimpath
build not-dwcp "$src/not-dwcp"
"$goroot/bin/go" version
