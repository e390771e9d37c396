// The kernel's BPF run-time statistics (bpf_prog_info run_time_ns and run_cnt), read one way for
// every program: the agent's uprobe program (BpfSession::program_stats) and the calibration's
// empty one. They count only while some process holds a BPF_ENABLE_STATS fd or while
// sysctl kernel.bpf_stats_enabled=1.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "dwcp_observer/fd.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

// Keeps the kernel's per-program run-time accounting on while it lives (BPF_ENABLE_STATS,
// kernel 5.8+): unlike the sysctl, it cannot be left on by a crashed agent, because the kernel
// drops it with the fd. Accounting costs two clock reads per program run (tens of ns).
class BpfStatsSession {
 public:
  static Result<std::unique_ptr<BpfStatsSession>> enable();

 private:
  explicit BpfStatsSession(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;  // stats count while it is open
};

struct ProgramRunStats {
  std::uint64_t run_time_ns = 0;
  std::uint64_t run_count = 0;
};

// Cumulative run time and count of the program behind `prog_fd` (zero while stats are off).
Result<ProgramRunStats> read_program_run_stats(int prog_fd);

// strerror of an errno value or of a libbpf/bpf() result (-errno): one wording for every BPF
// failure the agent reports (sessions, calibration, stats).
std::string errno_text(int err);

// Mean ns per run between two readings; 0 when the program did not run (or stats were off).
double ns_per_run(const ProgramRunStats& before, const ProgramRunStats& after);

}  // namespace dwcp::agent
