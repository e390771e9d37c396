#!/usr/bin/env bash
# Soak: the DWCP fixture transferring for N minutes with dwcp-observer attached; samples the
# agent's RSS and open file descriptors every 10 s, prints a table and a verdict (flat or growing).
# Not part of CI (it takes minutes). Needs root (BPF) and a build with the agent and the fixtures.
#
#   scripts/soak.sh [-m MINUTES] [-b BUILD_DIR] [-r RATE] [-i INTERVAL_S] [-s SCRAPE_INTERVAL_S]
#
# Defaults: 10 minutes, build dir ./build, 20 transfers/s of 256 KiB, sample every 10 s, and a
# scrape every 2 s so the HTTP path is exercised too. Exit 0 when flat, 1 when growing, 2 on error.
set -euo pipefail

minutes=10
build=build
rate=20
interval=10
scrape_every=2
while getopts "m:b:r:i:s:h" opt; do
  case "$opt" in
    m) minutes=$OPTARG ;;
    b) build=$OPTARG ;;
    r) rate=$OPTARG ;;
    i) interval=$OPTARG ;;
    s) scrape_every=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done

agent_bin=$build/userspace/agent/dwcp-observer
fixture_bin=$build/tests/fixtures/dwcp-fixture
for f in "$agent_bin" "$fixture_bin"; do
  [[ -x $f ]] || { echo "soak: $f not built (cmake --build $build --target dwcp-observer dwcp_fixtures)" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "soak: needs root (BPF)" >&2; exit 2; }

work=$(mktemp -d /tmp/dwcp-soak.XXXXXX)
fixture_pid='' agent_pid='' scraper_pid=''
cleanup() {
  for pid in $scraper_pid $agent_pid $fixture_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

duration=$((minutes * 60 + 30))
"$fixture_bin" --transfers 0 --duration "${duration}s" --rate "$rate" --transfer-size 262144 \
  --workload all --truth "$work/truth.json" --linger >"$work/fixture.out" 2>"$work/fixture.err" &
fixture_pid=$!
for _ in $(seq 50); do grep -q READY "$work/fixture.out" && break; sleep 0.1; done

# Budget off: the soak measures the agent with every probe live (the default 2 % budget would
# detach most of them on the busy fixture after 10 s).
"$agent_bin" --pid "$fixture_pid" --listen 127.0.0.1:0 --probe-budget 0 2>"$work/agent.log" &
agent_pid=$!
url=''
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.:]*/metrics' "$work/agent.log" || true)
  [[ -n $url ]] && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 2; }
  sleep 0.1
done
[[ -n $url ]] || { echo "soak: agent did not start" >&2; cat "$work/agent.log" >&2; exit 2; }

: >"$work/scrape.err"
( while sleep "$scrape_every"; do curl -sf -o /dev/null "$url" || echo "scrape failed $(date +%T)" >>"$work/scrape.err"; done ) &
scraper_pid=$!

metric() {  # sum of the samples of metric $1 in scrape $body whose labels contain $2
  awk -v name="$1" -v want="${2:-}" '($1 == name || index($1, name "{") == 1) && (want == "" || index($1, want)) { s += $NF }
    END { printf "%.0f", s }' <<<"$body"
}

echo "soak: agent $agent_pid on fixture $fixture_pid, $minutes min, rate $rate/s, sample every ${interval}s"
printf '%8s %10s %6s %12s %14s %10s %10s\n' elapsed_s rss_kib fds events socket_bytes lost_ring lost_other
samples=$((minutes * 60 / interval))
rss=() fds=()
start=$(date +%s)
for i in $(seq 0 "$samples"); do
  [[ $i -gt 0 ]] && sleep $((start + i * interval - $(date +%s))) 2>/dev/null || true
  kill -0 "$agent_pid" 2>/dev/null || { echo "soak: the agent died" >&2; tail "$work/agent.log" >&2; exit 2; }
  r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status")
  f=$(ls "/proc/$agent_pid/fd" | wc -l)
  rss+=("$r") fds+=("$f")
  body=$(curl -sf "$url" || true)
  lost=$(metric dwcp_observer_events_lost_total)
  ring=$(metric dwcp_observer_events_lost_total 'reason="ringbuf_full"')
  printf '%8d %10d %6d %12s %14s %10s %10s\n' $(( $(date +%s) - start )) "$r" "$f" \
    "$(metric dwcp_observer_events_total)" "$(metric dwcp_observer_tcp_bytes_sent_total)" "$ring" $((lost - ring))
done

# Verdict: compare the mean of the last third with the mean of the second third (the first third
# is warm-up: allocator arenas, label sets, civetweb buffers). Growing = RSS up by more than 5 %
# and 1 MiB, or any fd more.
n=${#rss[@]}
third=$((n / 3))
mean() { local a=("$@"); local s=0; for v in "${a[@]}"; do s=$((s + v)); done; echo $((s / ${#a[@]})); }
mid_rss=$(mean "${rss[@]:third:third}")
end_rss=$(mean "${rss[@]:$((n - third))}")
mid_fd=$(mean "${fds[@]:third:third}")
end_fd=$(mean "${fds[@]:$((n - third))}")
min_rss=$(printf '%s\n' "${rss[@]}" | sort -n | head -1)
max_rss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
min_fd=$(printf '%s\n' "${fds[@]}" | sort -n | head -1)
max_fd=$(printf '%s\n' "${fds[@]}" | sort -n | tail -1)
failed=$(wc -l <"$work/scrape.err")
echo
echo "RSS KiB: min $min_rss max $max_rss; middle third mean $mid_rss, last third mean $end_rss"
echo "fds:     min $min_fd max $max_fd; middle third mean $mid_fd, last third mean $end_fd"
echo "scrapes failed: $failed"
growth=$((end_rss - mid_rss))
if (( growth > 1024 && growth * 20 > mid_rss )) || (( end_fd > mid_fd )) || (( failed > 0 )); then
  echo "verdict: GROWING (or scrapes failed)"
  exit 1
fi
echo "verdict: FLAT"
