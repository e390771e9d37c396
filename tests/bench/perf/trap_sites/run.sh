#!/bin/bash
# What one uprobe hit costs by where it sits in a Go function: the entry's stack-check compare
# (single-stepped out of line), the branch after it (emulated), the RET (single-stepped on
# x86-64). A tracefs uprobe event on each place in turn, ROUNDS alternating rounds, CALLS calls,
# back to back or, with GAP (e.g. 100us), each after a sleep of GAP.
# Root, x86-64, Go on PATH or GO=...; docs/performance.md "Entry probes on the stack check's branch".
set -euo pipefail
GO=${GO:-/usr/lib/go-1.19/bin/go}
CALLS=${CALLS:-1000000}
GAP=${GAP:-}
ROUNDS=${ROUNDS:-3}
dir=$(mktemp -d)
mounted=
cleanup() {
  for e in /sys/kernel/tracing/events/trapsites/*/enable; do [ -e "$e" ] && echo 0 >"$e"; done
  [ -e /sys/kernel/tracing/uprobe_events ] && sed -n 's/^p:\(trapsites\/[^ ]*\).*/-:\1/p' \
    /sys/kernel/tracing/uprobe_events >>/sys/kernel/tracing/uprobe_events || true
  [ -n "$mounted" ] && umount /sys/kernel/tracing
  rm -rf "$dir"
}
trap cleanup EXIT
(cd "$(dirname "$0")" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" build -o "$dir/trapsites" .)
[ -e /sys/kernel/tracing/uprobe_events ] || { mount -t tracefs nodev /sys/kernel/tracing; mounted=1; }
# File offsets of the three places (non-PIE: vaddr - 0x400000).
fn=$(objdump -d "$dir/trapsites" | awk '/<main.work>:/,/^$/')
entry=$(echo "$fn" | sed -n '2p' | awk '{print $1}' | tr -d :)
branch=$(echo "$fn" | sed -n '3p' | awk '{print $1}' | tr -d :)
ret=$(echo "$fn" | grep -m1 -w ret | awk '{print $1}' | tr -d :)
echo "none: $("$dir/trapsites" "$CALLS" $GAP)"
for r in $(seq "$ROUNDS"); do
  for place in entry:$entry branch:$branch ret:$ret; do
    name=${place%%:*} off=$(printf '0x%x' $((0x${place#*:} - 0x400000)))
    echo "p:trapsites/$name $dir/trapsites:$off" >>/sys/kernel/tracing/uprobe_events
    echo 1 >/sys/kernel/tracing/events/trapsites/$name/enable
    echo "round $r $name ($off): $("$dir/trapsites" "$CALLS" $GAP)"
    echo 0 >/sys/kernel/tracing/events/trapsites/$name/enable
    echo "-:trapsites/$name" >>/sys/kernel/tracing/uprobe_events
  done
done
echo >/sys/kernel/tracing/trace
