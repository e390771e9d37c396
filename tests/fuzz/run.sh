#!/usr/bin/env bash
# Builds the goelf libFuzzer targets (CMake targets of a clang build with ASan + UBSan:
# tests/fuzz/build.sh, in BUILD_DIR) and runs each for a bounded time on a seed corpus: synthetic
# tables and ELF files in every Go format, plus the sections and files of real Go binaries given
# on the command line. The targets are linked into WORKDIR/bin.
#
#   tests/fuzz/run.sh [-t SECONDS_EACH] [-w WORKDIR] [-b BUILD_DIR] [GO_BINARY...]
#
# BUILD_DIR defaults to build-fuzz at the top of the tree. Exit status: 0 when no fuzzer found a
# crash, 1 when one did (the reproducer is in WORKDIR/artifacts/) or the build failed, 77 when
# clang++ with libFuzzer is not available (CTest: skipped).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=5
workdir=${TMPDIR:-/tmp}/goelf-fuzz
build_dir=$root/build-fuzz
while getopts "t:w:b:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    w) workdir=$OPTARG ;;
    b) build_dir=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS_EACH] [-w WORKDIR] [-b BUILD_DIR] [GO_BINARY...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

"$here/build.sh" "$build_dir" dwcp_goelf_fuzzers || exit $?
build_dir=$(realpath "$build_dir")
mkdir -p "$workdir"/{bin,seeds,corpus,artifacts}
fuzzers=()
for binary in "$build_dir"/tests/fuzz/fuzz_*; do
  fuzzers+=("$(basename "$binary")")
  ln -sf "$binary" "$workdir/bin/"
done
ln -sf "$build_dir/tests/fuzz/make_seeds" "$workdir/bin/"

# Seeds: synthetic inputs, then the Go tables of the real binaries.
rm -rf "$workdir/seeds" && mkdir -p "$workdir/seeds"
"$workdir/bin/make_seeds" "$workdir/seeds"
mkdir -p "$workdir/seeds/fuzz_dwarf" "$workdir/seeds/fuzz_profile"
cp "$root"/configs/probes/*.json "$workdir/seeds/fuzz_profile/"
for binary in "$@"; do
  if [[ ! -f $binary ]]; then
    echo "warning: seed binary $binary does not exist (build the goelf tests first); skipping it" >&2
    continue
  fi
  name=$(basename "$binary")
  for section in .gopclntab .data.rel.ro.gopclntab; do
    objcopy -O binary --only-section="$section" "$binary" "$workdir/seeds/fuzz_pclntab/$name$section" 2>/dev/null || true
  done
  objcopy -O binary --only-section=.go.buildinfo "$binary" "$workdir/seeds/fuzz_buildinfo/$name" 2>/dev/null || true
  objcopy -O binary --only-section=.text "$binary" "$workdir/seeds/fuzz_ret_finder/$name.text" 2>/dev/null || true
  # Whole binaries (megabytes) for the ELF fuzzer too: real section layouts, PIE relocations.
  cp "$binary" "$workdir/seeds/fuzz_go_binary/$name"
  cp "$binary" "$workdir/seeds/fuzz_dwarf/$name"
done
find "$workdir/seeds" -type f -empty -delete
# Whole-file fuzzers take inputs as large as the largest seed binary (libFuzzer's default
# max_len would cut a 3 MB Go binary down to its first KBs), at least 4 MiB.
file_max_len=$(find "$workdir/seeds/fuzz_go_binary" "$workdir/seeds/fuzz_dwarf" -type f -printf '%s\n' | sort -n | tail -1)
(( ${file_max_len:-0} < 4194304 )) && file_max_len=4194304

status=0
summary=()
for fuzzer in "${fuzzers[@]}"; do
  mkdir -p "$workdir/corpus/$fuzzer"
  log="$workdir/$fuzzer.log"
  max_len=()
  [[ $fuzzer == fuzz_ret_finder ]] && max_len=(-max_len=4096)
  [[ $fuzzer == fuzz_go_binary || $fuzzer == fuzz_dwarf ]] && max_len=(-max_len="$file_max_len")
  if ! "$workdir/bin/$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      "${max_len[@]}" -artifact_prefix="$workdir/artifacts/$fuzzer-" \
      "$workdir/corpus/$fuzzer" "$workdir/seeds/$fuzzer" >"$log" 2>&1; then
    status=1
    echo "FAIL: $fuzzer found a problem; log: $log; reproducer: $(ls "$workdir"/artifacts/"$fuzzer"-* 2>/dev/null | head -1)" >&2
    tail -40 "$log" >&2
  fi
  runs=$(grep -oE 'number_of_executed_units: +[0-9]+' "$log" | awk '{print $2}' || true)
  rate=$(grep -oE 'average_exec_per_sec: +[0-9]+' "$log" | awk '{print $2}' || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
  summary+=("$(printf '%-16s %8s runs %7s exec/s  cov %s' "$fuzzer" "${runs:-?}" "${rate:-?}" "${cov:-?}")")
done
printf '%s\n' "${summary[@]}"
if [[ $status -eq 0 ]]; then
  echo "${#fuzzers[@]} passed, 0 failed"
else
  echo "fuzzing found a crash (see above)"
fi
exit $status
