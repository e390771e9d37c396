#!/usr/bin/env bash
# Sets everything up, builds, starts a DWCP fixture doing transfers, attaches dwcp-observer to it
# by PID, and shows a live view of what the agent sees (`dwcp-observer top`). q or Ctrl-C ends it
# (the fixture transfers for DEMO_SECONDS); every process it started is stopped and every probe
# detached.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: eBPF needs root: run it as root (a non-root user: sudo bash scripts/demo.sh)" >&2
  exit 1
fi
scripts/setup.sh
# Only what the demo runs: the agent and the Go fixtures (not the tests and benchmarks).
BUILD_TARGETS="dwcp-observer dwcp_fixtures" scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
DEMO_SECONDS=${DEMO_SECONDS:-60}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The fixture (it waits for SIGUSR1 before working): 8 AMST streams, HDE/migration/federation calls too, ~4 transfers a second.
"$BUILD_DIR"/tests/fixtures/dwcp-fixture --workload all --streams 8 --transfers 0 \
  --duration "${DEMO_SECONDS}s" --rate 4 --listen 127.0.0.1:0 --truth "$work/truth.json" --linger --wait-signal \
  >"$work/fixture.out" 2>"$work/fixture.err" &
fixture=$!
pids+=("$fixture")
until grep -q READY "$work/fixture.out" 2>/dev/null; do sleep 0.1; done
echo "demo: DWCP fixture running as PID $fixture"

# --probe-budget 0: the fixture does little besides probed calls (its uprobes cost ~14 % of its
# CPU), so the default budget (2 %) would detach most probes after 10 s and the demo would freeze.
"$BUILD_DIR"/userspace/agent/dwcp-observer --pid "$fixture" --listen 127.0.0.1:0 --cluster demo \
  --probe-budget 0 2>"$work/agent.err" &
pids+=("$!")
until grep -q "serving http" "$work/agent.err" 2>/dev/null; do
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/agent.err"; exit 1; }
  sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*/metrics' "$work/agent.err" | head -1)
echo "demo: dwcp-observer attached by PID, serving $url"
# The fixture waits for this before it opens its streams, so the agent sees them open (a real
# DWCP is observed mid-flight instead: streams already open are not counted as opened).
kill -USR1 "$fixture"
echo

# The live view: `dwcp-observer top` reads the agent's /metrics every second (q quits, s sorts
# the streams, t picks a target). Without a terminal it prints one snapshot instead, once the
# transfers have run for a few seconds.
[ -t 1 ] || sleep 5
"$BUILD_DIR"/userspace/agent/dwcp-observer top "$url" || true
echo
echo "demo: the agent was serving $url, attached to the fixture (PID $fixture);"
echo "demo: both stop now. To keep watching a DWCP process yourself:"
echo "demo:   sudo $BUILD_DIR/userspace/agent/dwcp-observer --pid PID &   # serves its default address"
echo "demo:   $BUILD_DIR/userspace/agent/dwcp-observer top                  # reads that same default"
