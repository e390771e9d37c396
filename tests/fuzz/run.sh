#!/usr/bin/env bash
# Builds the goelf libFuzzer targets with clang++ (ASan + UBSan) straight from the sources and
# runs each for a bounded time on a seed corpus: synthetic tables and ELF files in every Go
# format, plus the sections and files of real Go binaries given on the command line.
#
#   tests/fuzz/run.sh [-t SECONDS_EACH] [-w WORKDIR] [GO_BINARY...]
#
# Exit status: 0 when no fuzzer found a crash, 1 when one did (the reproducer is in
# WORKDIR/artifacts/), 77 when clang++ with libFuzzer is not available (CTest: skipped).
set -euo pipefail

seconds=5
workdir=${TMPDIR:-/tmp}/goelf-fuzz
while getopts "t:w:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    w) workdir=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS_EACH] [-w WORKDIR] [GO_BINARY...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib_sources=("$root"/userspace/goelf/*.cpp)
profile_sources=("$root"/userspace/profile/*.cpp)
fuzzers=(fuzz_go_binary fuzz_pclntab fuzz_buildinfo fuzz_ret_finder fuzz_profile)
# The DWARF path needs libdw (as the agent's build does).
dw_flags=() dw_libs=()
if pkg-config --exists libdw; then
  dw_flags=(-DDWCP_GOELF_HAVE_LIBDW=1 $(pkg-config --cflags libdw))
  dw_libs=($(pkg-config --libs libdw))
  fuzzers+=(fuzz_dwarf)
fi

clangxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z $clangxx ]] || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
    "$clangxx" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "SKIPPED: clang++ with libFuzzer (-fsanitize=fuzzer) not found" >&2
  exit 77
fi

mkdir -p "$workdir"/{bin,obj,seeds,corpus,artifacts}
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$root/userspace" -I"$root/include" -I"$root/tests/goelf" $(pkg-config --cflags capstone) "${dw_flags[@]}")

# Rebuild only what is older than a source or header it may include.
newest_input=$(ls -t "$root"/userspace/goelf/* "$root"/userspace/profile/* "$here"/*.cpp "$root"/tests/goelf/synthetic_tables.h "$0" | head -1)
stale() { [[ ! -e $1 || $newest_input -nt $1 ]]; }

objects=() profile_objects=()
for source in "${lib_sources[@]}" "${profile_sources[@]}"; do
  object="$workdir/obj/$(basename "${source%.cpp}").o"
  if [[ $source == */profile/* ]]; then profile_objects+=("$object"); else objects+=("$object"); fi
  if stale "$object"; then
    "$clangxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$source" -o "$object" &
  fi
done
wait
for fuzzer in "${fuzzers[@]}"; do
  if stale "$workdir/bin/$fuzzer"; then
    extra=()
    [[ $fuzzer == fuzz_profile ]] && extra=("${profile_objects[@]}")
    "$clangxx" "${flags[@]}" -fsanitize=fuzzer "$here/$fuzzer.cpp" "${objects[@]}" "${extra[@]}" \
      $(pkg-config --libs capstone) "${dw_libs[@]}" -o "$workdir/bin/$fuzzer"
  fi
done
if stale "$workdir/bin/make_seeds"; then
  "$clangxx" -std=c++17 -O1 -I"$root/tests/goelf" "$here/make_seeds.cpp" -o "$workdir/bin/make_seeds"
fi

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
