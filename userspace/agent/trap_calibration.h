// What one uprobe hit costs the target on this kernel, measured rather than assumed: the trap
// itself (int3, kernel entry, uprobe dispatch, the displaced instruction emulated or single-stepped
// out of line, return), calibrated once at start-up by probing a function of our own binary where
// the agent probes a Go function (its stack check's branch and its RET) with an empty BPF program
// and timing calls with and without it. The BPF program's own run time comes apart, from the
// kernel's BPF stats (agent/bpf_stats.h); the budget (agent/probe_budget.h) adds the two.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/uprobe_attach.h"
#include "dwcp_observer/fd.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

// ---- the floor: uprobes running an empty BPF program ---------------------------------------

// Uprobes on `offsets` of `binary` (file offsets), in process `pid` only, each running a BPF
// program that does nothing (`r0 = 0; exit`). What remains of their cost is the trap: the floor
// any uprobe-based observer pays. Uses one uprobe_multi link where the kernel has them (6.6+,
// as the agent does), else one perf-event uprobe per offset (agent/uprobe_attach.h). Detached
// when destroyed.
class EmptyUprobes {
 public:
  static Result<std::unique_ptr<EmptyUprobes>> attach(int pid, const std::string& binary,
                                                      const std::vector<std::uint64_t>& offsets);
  EmptyUprobes(const EmptyUprobes&) = delete;
  EmptyUprobes& operator=(const EmptyUprobes&) = delete;

  // The program the probes run (for its run-time stats).
  int program_fd() const { return multi_ ? multi_program_.get() : classic_program_.get(); }
  bool multi() const { return multi_; }  // one uprobe_multi link, else perf-event uprobes

 private:
  EmptyUprobes() = default;
  Fd multi_program_;    // loaded for uprobe_multi links; empty where the kernel refuses the type
  Fd classic_program_;  // for perf-event uprobes
  bool multi_ = false;
  std::vector<Link> links_;  // declared last: detached before the programs are closed
};

// ---- trap cost calibration -------------------------------------------------------------------

struct TrapCalibration {
  double ns_per_hit = 0;         // (probed call minus plain call) / 2 hits: the mean price of one uprobe hit
  double ns_per_plain_call = 0;  // the same call without a probe (a few ns)
  std::uint64_t calls = 0;       // calls per timed round
  bool multi = false;            // measured through a uprobe_multi link (as the agent attaches)
  bool verified = false;         // the kernel's BPF stats confirmed every probed call ran the program
};

// Probes a function of this very binary at a branch and at its RET with an empty program and times
// `calls` calls with and without the probes, `rounds` times each, in this thread's CPU time; the fastest round of each
// counts. Robust on a loaded machine: waiting for a CPU is not CPU time, and a round disturbed
// otherwise (an interrupt, a cache flushed by a neighbour) is slower, never faster; with many
// short rounds (about 2 ms probed) some run undisturbed. The former wall-clock timing of 3 rounds
// of 10,000 calls read 2.5-3x high at a load average of 8 on 2 cores (docs/performance.md).
// Needs CAP_BPF + CAP_PERFMON (root). Takes about 2 x rounds x calls x (trap cost) of CPU at the
// most: 50 x 200 x 2 x 10 us = 0.2 s probed.
Result<TrapCalibration> calibrate_trap_cost(std::uint64_t calls = 200, int rounds = 50);

// File offset of the code at `address` in this process's own mappings, and the mapped file
// (from /proc/self/maps). Exposed for the calibration and its test.
struct FileOffset {
  std::string path;
  std::uint64_t offset = 0;
};
Result<FileOffset> own_file_offset(const void* address);

}  // namespace dwcp::agent
