#!/usr/bin/env bash
# Sets everything up, builds, starts a DWCP fixture doing transfers, attaches dwcp-observer to it
# by PID, and shows a live view of what the agent sees. Ctrl-C (or DEMO_SECONDS) ends it; every
# process it started is stopped and every probe detached.
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

"$BUILD_DIR"/userspace/agent/dwcp-observer --pid "$fixture" --listen 127.0.0.1:0 --cluster demo \
  2>"$work/agent.err" &
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

end=$((SECONDS + DEMO_SECONDS))
while [ $SECONDS -lt $end ] && kill -0 "$fixture" 2>/dev/null; do
  body=$(curl -s "$url" || true)
  clear 2>/dev/null || true
  echo "== dwcp-observer live view ($url), fixture PID $fixture — Ctrl-C to stop =="
  echo "$body" | awk '
    /^#/ {next}
    /^dwcp_amst_streams_active|^dwcp_amst_streams_total|^dwcp_amst_bytes_sent_total|^dwcp_amst_bytes_received_total/ {print; next}
    /^dwcp_amst_latency_seconds_count|^dwcp_hde_bytes_(original|compressed)_total|^dwcp_hde_delta_hit_rate_percent/ {print; next}
    /^dwcp_hde_operations_total/ && $NF != 0 {print; next}
    /^dwcp_migration_duration_seconds_count|^dwcp_federation_sync_duration_seconds_count/ {print; next}
    /^dwcp_observer_(target_up|probes_attached|tcp_bytes_sent_total|tcp_bytes_received_total|events_lost_total)/ && ($NF != 0 || /target_up/) {print}
  ' | sort | head -60
  sleep 2
done
echo
echo "demo: done; the full exposition was at $url"
