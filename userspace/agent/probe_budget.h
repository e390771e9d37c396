// The probe budget's arithmetic: measured costs in, decisions out. Every uprobe hit is a trap
// taken by the target's own thread, billed to the target: hits x (trap + BPF program run time)
// is the probes' time in the target. Over budget, the costliest per-operation probes are
// SAMPLED (attached for a share of every interval), never detached for good.
// Pure: the measurements come from agent/trap_calibration.h, agent/bpf_stats.h and /proc
// (process_cpu_seconds); tests/agent/probe_budget_test.cpp drives it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dwcp_observer/events.h"

namespace dwcp::agent {

// Whether the budget may sample a probe of this kind. Only per-operation probes, whose hit rate
// grows with the traffic (a Send or Receive, a chunk, an Encode/Decode, an HDE call), are
// candidates. Probes hit once per session or stream (session_start, stream_open, session_close
// with its per-stream final bytes, reconnect, AdjustStreams when the profile has it) or per rare
// administrative act (prune, migrations, federation) carry figures that counters and rules
// divide by: always attached. Kinds added later are kept too (the default of the switch).
bool budget_may_demote(dwcp_event_kind kind);

// Sampling ratios are multiples of this step, and never below it: a sampled probe is attached
// for at least 1/20 of every interval (0.5 s of the default 10 s).
constexpr double kSampleRatioStep = 0.05;

// The socket programs' time in the targets over an interval, in seconds. They count the targets'
// TCP bytes, calls and RTT, and the consistency check and the socket families depend on them: they
// are never sampled. They run in whichever process sends, receives or handles a segment, not
// only the targets: their run time (kernel BPF stats, `run_time_ns` over `runs` runs of the
// per-call and per-segment programs) is charged to the targets by their share of those runs
// (`target_runs`: their counted send and receive calls and RTT samples, dwcp_sock_stats). Runs
// for other processes stop after one map lookup, so the mean over all runs, and the estimate,
// err low when other processes make many socket calls.
double socket_seconds_in_targets(std::uint64_t run_time_ns, std::uint64_t runs, std::uint64_t target_runs);
// A target's runs of those programs so far: its counted send and receive calls and RTT samples.
inline std::uint64_t socket_program_runs(const dwcp_sock_stats& st) {
  return st.send_calls + st.recv_calls + st.srtt_samples;
}

struct ProbeInterval {
  std::string probe;       // probe label (event name of the profile)
  std::uint64_t hits = 0;  // uprobe hits over the interval (entry + RET sites)
  bool demotable = true;   // budget_may_demote(kind of the probe)
  double ratio = 1.0;      // share of the interval the probe was attached (1: not sampled)
};

struct ProbeCost {
  std::string probe;
  std::uint64_t hits = 0;
  double seconds = 0;       // estimated in-target time over the interval, as attached: hits x (trap + program)
  double full_seconds = 0;  // the same had it been attached all the interval: seconds / ratio
  bool demotable = true;
};

struct BudgetDecision {
  std::vector<ProbeCost> costs;   // every probe, costliest (full_seconds) first
  double overhead_seconds = 0;    // sum of costs[].seconds: what the probes cost over the interval
  double socket_seconds = 0;      // of which the socket programs (costs[] entry "socket")
  double target_cpu_seconds = 0;  // measured over the interval (includes the overhead)
  double judged_seconds = 0;      // what the overhead is judged against: max(target CPU, one core)
  double share = 0;               // overhead_seconds / judged_seconds: as the interval went
  double share_full = 0;          // the same with every probe attached all the time
  double share_after = 0;         // the same with the new sampling ratios
  // Sampling ratio of every demotable probe that does not fit attached full time (0 < r < 1,
  // a multiple of kSampleRatioStep); a probe not listed is attached all the time.
  std::map<std::string, double> ratios;
};

struct BudgetPolicy {
  // Largest share the probes may take (0.02 = 2 %). 0 disables (the cost is still estimated).
  double max_share = 0.0;
};

class ProbeBudget {
 public:
  explicit ProbeBudget(BudgetPolicy policy) : policy_(policy) {}

  // The rule: the overhead O is judged against J = max(T, W), T the targets' CPU time over the
  // interval, W the interval's wall time (one core). A quiet target (T < one core) is judged by
  // absolute cost, O as a share of one core: a mostly idle DWCP is never over budget for a
  // handful of hits, however small its own CPU time. A busy target (T >= one core) is judged by
  // the share of its own CPU, O / T. O / J is never above O / T.
  //
  // Each interval the decision is taken afresh from the full-time estimate (a sampled probe's
  // hits divided by its ratio, its missed time added to T): when that fits, every probe is
  // attached all the time again. When it does not, the demotable probes are sampled, costliest
  // first (ties by name), each at the largest ratio that makes the rest fit (floored at
  // kSampleRatioStep); a probe without hits is never sampled. When what may not be sampled
  // exceeds the budget on its own, the candidates go to the floor and share_after says what remains.
  //
  // The socket programs' time (socket_seconds_in_targets) is part of the overhead: of every share
  // and of the exported figures, as a cost named "socket". It is not what the budget controls:
  // sampling cannot reduce it, so the ratios are chosen for the uprobes' share alone (without it
  // a busy big transfer would sample send and receive to the floor for nothing).
  BudgetDecision evaluate(const std::vector<ProbeInterval>& probes, double trap_ns_per_hit, double bpf_ns_per_run,
                          double target_cpu_seconds, double wall_seconds, double socket_seconds = 0) const;

  // Judging early, between two evaluations (the agent checks a few times a second): a burst
  // shorter than the interval would otherwise run fully trapped until the next tick. When the
  // uprobes' cost so far in the interval (`so_far`: hits since it began) already exceeds what the
  // whole interval allows, B x max(interval, targets' CPU so far), the demotable probes attached
  // all the time so far (ratio 1) and that cost at least a tenth of that allowance so far are cut
  // until the next evaluation. Returns their names, costliest first (none when within budget).
  // The next evaluation judges them at their full-time cost (hits / the share of the interval
  // they were attached) as any sampled probe.
  std::vector<std::string> cut_short(const std::vector<ProbeInterval>& so_far, double trap_ns_per_hit,
                                     double bpf_ns_per_run, double target_cpu_so_far, double elapsed_seconds,
                                     double interval_seconds) const;

 private:
  BudgetPolicy policy_;
};

}  // namespace dwcp::agent
