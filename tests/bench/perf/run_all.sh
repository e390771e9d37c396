#!/bin/bash
# End-to-end benchmarks of docs/performance.md, in one command:
#
#   sudo tests/bench/perf/run_all.sh [BUILD_DIR]          (default: build-perf)
#
# Builds what it needs (agent, fixtures, the callloop program, the empty-uprobe floor tool),
# then runs benchmarks 1-5. Each prints its figure; the JSON of every run goes to
# BUILD_DIR/perf-results/. Needs root (BPF), about 10 minutes on 2 cores. Benchmarks are never
# CTest tests: they measure, they do not assert. Pick benchmarks with BENCH="call amst rate scrape".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../../.." && pwd)"
build="${1:-$src/build-perf}"
benches="${BENCH:-call amst rate scrape streams}"

if [[ $EUID -ne 0 ]]; then
  echo "run_all.sh: needs root (uprobes and BPF programs): sudo $0" >&2
  exit 2
fi

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target dwcp-observer dwcp_fixtures >/dev/null

tools="$build/perf-tools"
results="$build/perf-results"
mkdir -p "$tools" "$results"
(cd "$here/callloop" && GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0 GOCACHE="$tools/gocache" \
  /usr/lib/go-1.19/bin/go build -buildvcs=false -o "$tools/callloop" .)
g++ -std=c++17 -O2 -Wall -Wextra -I"$src/userspace" -I"$src/include" -o "$tools/empty_uprobes" \
  "$here/empty_uprobes.cpp" "$src/userspace/agent/trap_calibration.cpp" "$src/userspace/agent/bpf_stats.cpp" \
  "$src/userspace/agent/uprobe_attach.cpp" "$src/userspace/agent/load_base.cpp" $(pkg-config --cflags --libs libbpf)

export DWCP_OBSERVER_BIN="$build/userspace/agent/dwcp-observer"
export DWCP_FIXTURE_DIR="$build/tests/fixtures"
export DWCP_PERF_TOOLS="$tools"
export DWCP_PERF_RESULTS="$results"

{
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
  echo "bpftrace: $(/usr/bin/bpftrace --version 2>/dev/null || echo missing)"
  echo "date: $(date -u +%FT%TZ), revision: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$results/machine.txt"

start=$SECONDS
for bench in $benches; do
  case "$bench" in
    call)   /usr/bin/python3 "$here/bench_call_cost.py" ;;
    amst)   /usr/bin/python3 "$here/bench_amst.py" --runs 7 ;;  # benchmarks 2 and 5 (same runs)
    rate)   /usr/bin/python3 "$here/bench_event_rate.py" ;;
    scrape) /usr/bin/python3 "$here/bench_scrape.py" --arena-max 2 ;;
    streams) /usr/bin/python3 "$here/bench_streams.py" --rounds 7 ;;  # benchmark 6 (issue 12)
    *) echo "run_all.sh: unknown benchmark '$bench' (call amst rate scrape streams)" >&2; exit 2 ;;
  esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/machine.txt"
echo "all benchmarks: $((SECONDS - start)) s; results in $results"
