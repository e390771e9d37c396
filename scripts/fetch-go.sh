#!/usr/bin/env bash
# Fetches the Go toolchains Debian ships (one per minor version) into a cache outside the
# repository, for the Go matrix tests (tests/gomatrix). Nothing is installed into the system:
# each suite's packages come through a private apt state directory (`apt-get download`) and
# are unpacked with `dpkg -x`. Prints "VERSION GOROOT" per toolchain.
#
#   scripts/fetch-go.sh [1.19 1.21 ...]     default: every version below
#   DWCP_GO_CACHE=/var/cache/dwcp-observer/go   where toolchains (and per-version GOCACHEs) live
#
# Idempotent: a version already unpacked (its bin/go runs) is not fetched again. Exit status is
# non-zero when any requested version cannot be had; the caller decides whether that skips.
set -euo pipefail

# Go minor version -> the Debian suite that ships golang-X-go/-src (checked with apt-cache madison).
declare -A SUITE=(
  [1.19]=bookworm
  [1.21]=bookworm-backports [1.22]=bookworm-backports [1.23]=bookworm-backports
  [1.24]=trixie
  [1.26]=forky [1.27]=forky
)
ALL=(1.19 1.21 1.22 1.23 1.24 1.26 1.27)

CACHE=${DWCP_GO_CACHE:-/var/cache/dwcp-observer/go}
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("${ALL[@]}")

goroot_of() { echo "$CACHE/$1/usr/lib/go-$1"; }
have() { "$(goroot_of "$1")/bin/go" version >/dev/null 2>&1; }

# The mirror this machine's apt already uses (deb822 or one-line format), else Debian's.
mirror() {
  local m
  m=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
      grep -v security | head -n1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}

APT_DIR="$CACHE/apt"
apt_opts() {
  echo -o "Dir::State=$APT_DIR/state" -o "Dir::State::status=$APT_DIR/state/status" \
       -o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null \
       -o "Dir::Cache=$APT_DIR/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
}

updated=""
apt_update() {
  [ -z "$updated" ] || return 0
  mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial"
  : >"$APT_DIR/state/status"
  local m suites
  m=$(mirror)
  suites=$(printf '%s\n' "${SUITE[@]}" | sort -u)
  : >"$APT_DIR/sources.list"
  for s in $suites; do echo "deb $m $s main" >>"$APT_DIR/sources.list"; done
  updated=1
  # Lists fetched by an earlier call today serve (one update, not one per version fetched).
  if [ -n "$(find "$APT_DIR/state/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1)" ] &&
     [ "$(cat "$APT_DIR/sources.list")" = "$(cat "$APT_DIR/sources.used" 2>/dev/null)" ]; then
    return 0
  fi
  # shellcheck disable=SC2046
  apt-get $(apt_opts) -q update >&2
  cp "$APT_DIR/sources.list" "$APT_DIR/sources.used"
}

failed=()
for v in "${versions[@]}"; do
  if [ -z "${SUITE[$v]:-}" ]; then
    echo "fetch-go: no Debian suite known for Go $v (known: ${ALL[*]})" >&2
    failed+=("$v")
    continue
  fi
  # This suite's own Go (scripts/setup.sh installs golang-1.19-go): use it as installed.
  if [ "${SUITE[$v]}" = bookworm ] && dpkg-query -W -f='${Status}' "golang-$v-go" 2>/dev/null | grep -q "install ok installed" &&
     "/usr/lib/go-$v/bin/go" version >/dev/null 2>&1; then
    echo "$v /usr/lib/go-$v"
    continue
  fi
  if ! have "$v"; then
    apt_update
    dl="$APT_DIR/deb/$v"
    rm -rf "$dl" "${CACHE:?}/$v"
    mkdir -p "$dl"
    # shellcheck disable=SC2046
    if ! (cd "$dl" && apt-get $(apt_opts) -q download "golang-$v-go" "golang-$v-src" >&2); then
      echo "fetch-go: golang-$v-go/-src not available from ${SUITE[$v]}" >&2
      failed+=("$v")
      continue
    fi
    for deb in "$dl"/*.deb; do dpkg -x "$deb" "$CACHE/$v"; done
    rm -rf "$dl"
    # This suite's own Go (scripts/setup.sh installs golang-1.19-go): use it as installed.
  if [ "${SUITE[$v]}" = bookworm ] && dpkg-query -W -f='${Status}' "golang-$v-go" 2>/dev/null | grep -q "install ok installed" &&
     "/usr/lib/go-$v/bin/go" version >/dev/null 2>&1; then
    echo "$v /usr/lib/go-$v"
    continue
  fi
  if ! have "$v"; then
      echo "fetch-go: Go $v unpacked but $(goroot_of "$v")/bin/go does not run" >&2
      failed+=("$v")
      continue
    fi
  fi
  echo "$v $(goroot_of "$v")"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fetch-go: could not get Go ${failed[*]}" >&2
  exit 1
fi
