// The probe budget's arithmetic: measured costs in, decisions out. Every uprobe hit is a trap
// taken by the target's own thread, billed to the target: hits x (trap + BPF program run time)
// is the probes' share of the target's CPU, and over budget the costliest probes are demoted.
// Pure: the measurements come from agent/trap_calibration.h, agent/bpf_stats.h and /proc
// (process_cpu_seconds); tests/agent/probe_budget_test.cpp drives it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dwcp_observer/events.h"

namespace dwcp::agent {

// Whether the budget may demote a probe of this kind. Only per-operation probes, whose hit rate
// grows with the traffic (a Send or Receive, a chunk, an Encode/Decode, an HDE call), are
// candidates. Probes hit once per session or stream (session_start, stream_open, session_close
// with its per-stream final bytes, reconnect) or per rare administrative act (prune, migrations,
// federation) cost next to nothing and carry what no other source gives: never demoted.
bool budget_may_demote(dwcp_event_kind kind);

struct ProbeInterval {
  std::string probe;       // probe label (event name of the profile)
  std::uint64_t hits = 0;  // uprobe hits over the interval (entry + RET sites)
  bool demotable = true;   // budget_may_demote(kind of the probe)
};

struct ProbeCost {
  std::string probe;
  std::uint64_t hits = 0;
  double seconds = 0;  // estimated in-target time: hits x (trap + program)
  bool demotable = true;
};

struct BudgetDecision {
  std::vector<ProbeCost> costs;     // every probe, costliest first
  double overhead_seconds = 0;      // sum of costs
  double target_cpu_seconds = 0;    // measured over the interval (includes the overhead)
  double share = 0;                 // overhead / target CPU (as judged, see min_target_cpu_seconds)
  double share_after = 0;           // the same once the demoted probes are gone
  std::vector<std::string> demote;  // probes to demote, costliest first; empty when in budget
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
  // budget, demotes until the rest fits. Demotion order: among the demotable probes only, the
  // costliest over the interval first (ties by name, so the same input demotes the same probes);
  // a probe without hits is never demoted. When the probes that may not be demoted exceed the
  // budget on their own, every costly candidate goes and share_after says what remains.
  // Removing a probe removes its time from the target's CPU too: the share after is (O - c) / (T - c).
  BudgetDecision evaluate(const std::vector<ProbeInterval>& probes, double trap_ns_per_hit, double bpf_ns_per_run,
                          double target_cpu_seconds) const;

 private:
  BudgetPolicy policy_;
};

}  // namespace dwcp::agent
