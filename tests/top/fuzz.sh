#!/usr/bin/env bash
# Builds fuzz_top (a CMake target of the clang fuzz build, libFuzzer + ASan + UBSan:
# tests/fuzz/build.sh, in BUILD_DIR) and runs it for a bounded time on seeds made of real-shaped
# responses.
#
#   tests/top/fuzz.sh [-t SECONDS] [-w WORKDIR] [-b BUILD_DIR]
#
# BUILD_DIR defaults to build-fuzz at the top of the tree. Exit status: 0 when nothing was found,
# 1 when a crash or sanitizer report was (the reproducer is in WORKDIR/artifacts/) or the build
# failed, 77 when clang++ with libFuzzer is not available (CTest: skipped).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=5
workdir=${TMPDIR:-/tmp}/top-fuzz
build_dir=$root/build-fuzz
while getopts "t:w:b:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    w) workdir=$OPTARG ;;
    b) build_dir=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-w WORKDIR] [-b BUILD_DIR]" >&2; exit 2 ;;
  esac
done
"$root/tests/fuzz/build.sh" "$build_dir" fuzz_top || exit $?
mkdir -p "$workdir/corpus" "$workdir/artifacts"
ln -sf "$(realpath "$build_dir")/tests/top/fuzz_top" "$workdir/fuzz_top"
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
