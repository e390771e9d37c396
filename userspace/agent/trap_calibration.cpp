#include "agent/trap_calibration.h"

#include "agent/bpf_stats.h"
#include "agent/uprobe_attach.h"
#include "agent/uprobe_multi.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <utility>

// The calibration target, probed where the agent probes a Go function: on the conditional branch
// that ends a stack check (the kernel emulates a probed branch: goelf/ret_finder.h,
// stack_check_branch_offset) and on the RET (which x86-64 single-steps out of line, a second
// exception; arm64 emulates it). One call is then one entry hit and one RET hit, as a call of a
// probed DWCP function is, and the cost per hit is their mean. Written in assembly so that no
// compiler flag (CET's endbr64, a different prologue) changes what is measured.
#if defined(__x86_64__)
asm(R"(
  .text
  .globl dwcp_overhead_calibration_target
  .type dwcp_overhead_calibration_target, @function
dwcp_overhead_calibration_target:
  cmp $0, %rdi
  jl 1f
1:
  lea 1(%rdi), %rax
  ret
  .size dwcp_overhead_calibration_target, .-dwcp_overhead_calibration_target
)");
constexpr std::uint64_t kCalibrationBranchOffset = 4, kCalibrationRetOffset = 10;
#elif defined(__aarch64__)
asm(R"(
  .text
  .globl dwcp_overhead_calibration_target
  .type dwcp_overhead_calibration_target, %function
dwcp_overhead_calibration_target:
  cmp x0, #0
  b.lt 1f
1:
  add x0, x0, #1
  ret
  .size dwcp_overhead_calibration_target, .-dwcp_overhead_calibration_target
)");
constexpr std::uint64_t kCalibrationBranchOffset = 4, kCalibrationRetOffset = 12;
#else
#error "trap calibration: no calibration target for this architecture"
#endif
extern "C" std::uint64_t dwcp_overhead_calibration_target(std::uint64_t x);

namespace dwcp::agent {
namespace {

// `r0 = 0; exit`: a kprobe-type program (uprobes run kprobe programs) that does nothing.
Result<int> load_empty_program(bool for_multi) {
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = 0;
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, opts);
  if (for_multi) opts.expected_attach_type = static_cast<bpf_attach_type>(kBpfTraceUprobeMulti);
  int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "dwcp_empty", "GPL", insns, 2, &opts);
  if (fd < 0) {
    Error error = Error::system("cannot load the empty BPF program", errno, ErrorKind::kBpf);
    if (error.code == EPERM || error.code == EACCES) error.message += " — run as root (or with CAP_BPF + CAP_PERFMON)";
    return error;
  }
  return fd;
}

// CPU time of this thread, user and system: the trap is handled in the calling thread and billed
// to it (as the target's traps are billed to the target), while time spent waiting for a CPU on a
// loaded machine is not, as it was with a wall clock.
double thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// Best of `rounds` timings of `calls` calls; the function pointer is volatile so the loop is
// never folded away.
double best_loop_ns(std::uint64_t calls, int rounds) {
  std::uint64_t (*volatile fn)(std::uint64_t) = dwcp_overhead_calibration_target;
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    std::uint64_t x = 0;
    const double start = thread_cpu_ns();
    for (std::uint64_t i = 0; i < calls; ++i) x = fn(x);
    double ns = thread_cpu_ns() - start;
    asm volatile("" : : "r"(x));
    if (r == 0 || ns < best) best = ns;
  }
  return best;
}

}  // namespace

// ---- EmptyUprobes ---------------------------------------------------------------------------

Result<std::unique_ptr<EmptyUprobes>> EmptyUprobes::attach(int pid, const std::string& binary,
                                                           const std::vector<std::uint64_t>& offsets) {
  if (offsets.empty()) return Error{"no uprobe offsets given"};
  std::unique_ptr<EmptyUprobes> probes(new EmptyUprobes());
  // uprobe_multi first, as the agent attaches (agent/uprobe_attach.h), so the floor is measured
  // the same way; a kernel that cannot load a uprobe_multi program gets classic uprobes.
  if (auto multi = load_empty_program(true)) probes->multi_program_.reset(*multi);
  auto classic = load_empty_program(false);
  if (!classic) return classic.failure();
  probes->classic_program_.reset(*classic);
  std::vector<UprobeSite> sites;
  for (auto offset : offsets) sites.push_back({offset, 0});
  auto attached =
      attach_uprobes({probes->multi_program_.get(), probes->classic_program_.get(), false}, pid, binary, sites);
  if (!attached) return attached.failure();
  probes->multi_ = attached->multi;
  probes->links_ = std::move(attached->links);
  return probes;
}

// ---- calibration -----------------------------------------------------------------------------

Result<FileOffset> own_file_offset(const void* address) {
  std::ifstream maps("/proc/self/maps");
  if (!maps) return Error{"cannot read /proc/self/maps"};
  const auto addr = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long start = 0, end = 0, pgoff = 0;
    char perms[8] = {};
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s%n", &start, &end, perms, &pgoff, &consumed) < 4) continue;
    if (addr < start || addr >= end) continue;
    std::string file = line.substr(static_cast<std::size_t>(consumed));
    file.erase(0, file.find_first_not_of(' '));
    if (file.empty() || file[0] != '/' || perms[2] != 'x')
      return Error{"the calibration function is not in an executable file mapping: " + line};
    return FileOffset{file, addr - start + pgoff};
  }
  return Error{"the calibration function is in no mapping of /proc/self/maps"};
}

Result<TrapCalibration> calibrate_trap_cost(std::uint64_t calls, int rounds) {
  constexpr std::uint64_t kHitsPerCall = 2;  // the branch and the RET
  if (calls == 0 || rounds <= 0) return Error{"calibration needs at least one call and one round"};
  auto entry = own_file_offset(reinterpret_cast<const void*>(&dwcp_overhead_calibration_target));
  if (!entry) return entry.failure();

  TrapCalibration result;
  result.calls = calls;
  best_loop_ns(calls, 1);  // warm caches and the branch predictor
  double plain_ns = best_loop_ns(calls, rounds);
  result.ns_per_plain_call = plain_ns / static_cast<double>(calls);

  // Stats on only for the probed rounds: they let us check that every call was really trapped.
  auto stats = BpfStatsSession::enable();
  auto probes = EmptyUprobes::attach(static_cast<int>(getpid()), entry->path,
                                     {entry->offset + kCalibrationBranchOffset, entry->offset + kCalibrationRetOffset});
  if (!probes) return probes.failure();
  result.multi = (*probes)->multi();
  auto before = read_program_run_stats((*probes)->program_fd());
  double probed_ns = best_loop_ns(calls, rounds);
  auto after = read_program_run_stats((*probes)->program_fd());
  if (stats && before && after) {
    const std::uint64_t ran = after->run_count - before->run_count;
    if (ran < kHitsPerCall * calls * static_cast<std::uint64_t>(rounds))
      return Error{"calibration uprobes ran " + std::to_string(ran) + " times for " + std::to_string(calls * rounds) +
                   " calls: the probes are not where the calls go"};
    result.verified = true;
  }
  result.ns_per_hit = std::max(0.0, (probed_ns - plain_ns) / static_cast<double>(kHitsPerCall * calls));
  return result;
}

}  // namespace dwcp::agent
