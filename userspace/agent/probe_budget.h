// The probe budget's arithmetic: measured costs in, decisions out. Every uprobe hit is a trap
// taken by the target's own thread, billed to the target: hits x (trap + BPF program run time)
// is the probes' share of the target's CPU, and over budget the costliest probes are demoted.
// Pure: the measurements come from agent/trap_calibration.h, agent/bpf_stats.h and /proc
// (process_cpu_seconds); tests/agent/probe_budget_test.cpp drives it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dwcp::agent {

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
