// What observing costs the target, measured rather than assumed.
//
// Every uprobe hit is a trap taken by the target's own thread: that time is billed to the target
// (as system time) and is the price of observing. It has two parts, both measured here:
//   - the trap itself (int3, kernel entry, uprobe dispatch, single-step of the displaced
//     instruction, return): calibrated once at start-up by probing a function of our own binary
//     with an empty BPF program and timing calls with and without it;
//   - our BPF program's run time, from the kernel's BPF stats (bpf_prog_info run_time_ns and
//     run_cnt), which count only while some process holds a BPF_ENABLE_STATS fd or while
//     sysctl kernel.bpf_stats_enabled=1.
// ProbeBudget turns hits x (trap + program) into a share of the target's CPU time and says which
// probes to demote when that share is over budget. Only the calibration and the stats session
// touch the kernel; the budget arithmetic and the /proc parsing are pure and unit-tested.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dwcp::agent {

// ---- the floor: uprobes running an empty BPF program ---------------------------------------

// Uprobes on `offsets` of `binary` (file offsets), in process `pid` only, each running a BPF
// program that does nothing (`r0 = 0; exit`). What remains of their cost is the trap: the floor
// any uprobe-based observer pays. Uses one uprobe_multi link where the kernel has them (6.6+,
// as the agent does), else one perf-event uprobe per offset. Detached when destroyed.
class EmptyUprobes {
 public:
  static std::unique_ptr<EmptyUprobes> attach(int pid, const std::string& binary,
                                              const std::vector<std::uint64_t>& offsets,
                                              std::string* error);
  ~EmptyUprobes();
  EmptyUprobes(const EmptyUprobes&) = delete;
  EmptyUprobes& operator=(const EmptyUprobes&) = delete;

  int program_fd() const { return prog_fd_; }
  bool multi() const { return multi_; }  // one uprobe_multi link, else perf-event uprobes

 private:
  EmptyUprobes() = default;
  int prog_fd_ = -1;
  bool multi_ = false;
  std::vector<int> fds_;  // the link fd, or one perf event fd per offset
};

// ---- trap cost calibration -------------------------------------------------------------------

struct TrapCalibration {
  double ns_per_hit = 0;        // probed call minus plain call: the price of one uprobe hit
  double ns_per_plain_call = 0; // the same call without a probe (a few ns)
  std::uint64_t calls = 0;      // calls per timed round
  bool multi = false;           // measured through a uprobe_multi link (as the agent attaches)
  bool verified = false;        // the kernel's BPF stats confirmed every probed call ran the program
};

// Probes a function of this very binary with an empty program and times `calls` calls with and
// without the probe, best of `rounds`. Needs CAP_BPF + CAP_PERFMON (root). Takes about
// rounds x calls x (trap cost) — 3 x 10,000 x 5 us = 0.15 s on a VM with 5 us traps.
std::optional<TrapCalibration> calibrate_trap_cost(std::string* error, std::uint64_t calls = 10000,
                                                   int rounds = 3);

// File offset of the code at `address` in this process's own mappings, and the mapped file
// (from /proc/self/maps). Exposed for the calibration and its test.
bool own_file_offset(const void* address, std::string* path, std::uint64_t* offset, std::string* error);

// ---- BPF run-time statistics ------------------------------------------------------------------

// Keeps the kernel's per-program run-time accounting on while it lives (BPF_ENABLE_STATS,
// kernel 5.8+): unlike the sysctl, it cannot be left on by a crashed agent, because the kernel
// drops it with the fd. Accounting costs two clock reads per program run (tens of ns).
class BpfStatsSession {
 public:
  static std::unique_ptr<BpfStatsSession> enable(std::string* error);
  ~BpfStatsSession();
  BpfStatsSession(const BpfStatsSession&) = delete;
  BpfStatsSession& operator=(const BpfStatsSession&) = delete;

 private:
  explicit BpfStatsSession(int fd) : fd_(fd) {}
  int fd_ = -1;
};

struct ProgramRunStats {
  std::uint64_t run_time_ns = 0;
  std::uint64_t run_count = 0;
};

// Cumulative run time and count of the program behind `prog_fd` (zero while stats are off).
std::optional<ProgramRunStats> read_program_run_stats(int prog_fd, std::string* error);

// Mean ns per run between two readings; 0 when the program did not run (or stats were off).
double ns_per_run(const ProgramRunStats& before, const ProgramRunStats& after);

// ---- the target's CPU time ---------------------------------------------------------------------

// utime + stime of one /proc/PID/stat line, in seconds. The command name (field 2) may hold
// spaces and parentheses: fields are counted from the last ')'.
std::optional<double> parse_proc_stat_cpu_seconds(const std::string& stat_line, long ticks_per_second);

// utime + stime of the whole process (all threads) from /proc/PID/stat.
std::optional<double> process_cpu_seconds(int pid, std::string* error);

// ---- the budget ----------------------------------------------------------------------------------

struct ProbeInterval {
  std::string probe;       // probe label (event name of the profile)
  std::uint64_t hits = 0;  // uprobe hits over the interval (entry + RET sites)
};

struct ProbeCost {
  std::string probe;
  std::uint64_t hits = 0;
  double seconds = 0;  // estimated in-target time: hits x (trap + program)
};

struct BudgetDecision {
  std::vector<ProbeCost> costs;      // every probe, costliest first
  double overhead_seconds = 0;       // sum of costs
  double target_cpu_seconds = 0;     // measured over the interval (includes the overhead)
  double share = 0;                  // overhead / target CPU (as judged, see min_target_cpu_seconds)
  double share_after = 0;            // the same once the demoted probes are gone
  std::vector<std::string> demote;   // probes to demote, costliest first; empty when in budget
};

struct BudgetPolicy {
  // Largest share of the target's CPU time the probes may take (0.02 = 2 %). 0 disables.
  double max_share = 0.0;
  // A nearly idle target makes any share look large; below this much target CPU per interval
  // the share is judged against this floor instead, so a handful of hits demotes nothing.
  double min_target_cpu_seconds = 0.05;
};

class ProbeBudget {
 public:
  explicit ProbeBudget(BudgetPolicy policy) : policy_(policy) {}

  // Estimates each probe's in-target time over an interval and, when the total exceeds the
  // budget, picks the costliest probes to demote until the rest fits. Removing a probe removes
  // its time from the target's CPU too: the share after is (O - c) / (T - c).
  BudgetDecision evaluate(const std::vector<ProbeInterval>& probes, double trap_ns_per_hit,
                          double bpf_ns_per_run, double target_cpu_seconds) const;

 private:
  BudgetPolicy policy_;
};

}  // namespace dwcp::agent
