#!/usr/bin/env bash
# Builds tests/top/fuzz_top.cpp with clang++ (libFuzzer, ASan + UBSan) from the sources of
# userspace/top and runs it for a bounded time on seeds made of real-shaped responses.
#
#   tests/top/fuzz.sh [-t SECONDS] [-w WORKDIR]
#
# Exit status: 0 when nothing was found, 1 when a crash or sanitizer report was (the reproducer
# is in WORKDIR/artifacts/), 77 when clang++ with libFuzzer is not available (CTest: skipped).
set -euo pipefail
seconds=5
workdir=${TMPDIR:-/tmp}/top-fuzz
while getopts "t:w:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    w) workdir=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-w WORKDIR]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
clangxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z $clangxx ]] || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
    "$clangxx" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "SKIP: clang++ with libFuzzer not available" >&2
  exit 77
fi
mkdir -p "$workdir/corpus" "$workdir/artifacts"
# The parts that read network input (no sockets, no terminal).
"$clangxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/userspace" -o "$workdir/fuzz_top" "$here/fuzz_top.cpp" \
  "$root"/userspace/top/{exposition,stats,view,render,http_client}.cpp
printf 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nm{a="b"} 1\n' > "$workdir/corpus/plain"
printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nm 1\n\r\n0\r\n\r\n' > "$workdir/corpus/chunked"
cat > "$workdir/corpus/agent" <<'TEXT'
dwcp_amst_bytes_sent_total{cluster="default",node="vm",stream_id="0"} 2269441
dwcp_amst_bytes_received_total{cluster="default",node="vm",stream_id="0",target="t"} 2269441
dwcp_amst_latency_seconds_bucket{operation="send",le="0.001"} 5
dwcp_amst_latency_seconds_bucket{operation="send",le="+Inf"} 9
dwcp_migration_duration_seconds_bucket{le="1"} 1
dwcp_migration_duration_seconds_bucket{le="+Inf"} 2
dwcp_hde_bytes_original_total{data_type="delta"} 100
dwcp_hde_bytes_compressed_total{data_type="delta"} 0
dwcp_observer_target_up{pid="1",target="t"} 1
dwcp_observer_tcp_srtt_seconds{pid="1"} NaN
TEXT
cd "$workdir"
"./fuzz_top" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$workdir/artifacts/" corpus 2>&1 | tail -3
