#include "agent/probe_budget.h"

#include <algorithm>

namespace dwcp::agent {

bool budget_may_demote(dwcp_event_kind kind) {
  switch (kind) {
    case DWCP_EV_SEND:
    case DWCP_EV_SEND_CHUNK:
    case DWCP_EV_RECEIVE:
    case DWCP_EV_RECEIVE_CHUNK:
    case DWCP_EV_ENCODE:
    case DWCP_EV_DECODE:
    case DWCP_EV_COMPRESS_MEMORY:
    case DWCP_EV_COMPRESS_DISK:
    case DWCP_EV_DECOMPRESS:
      return true;
    default:  // per session or stream, rare administrative acts, and kinds added later: kept
      return false;
  }
}

BudgetDecision ProbeBudget::evaluate(const std::vector<ProbeInterval>& probes, double trap_ns_per_hit,
                                     double bpf_ns_per_run, double target_cpu_seconds) const {
  BudgetDecision decision;
  const double per_hit_s = (std::max(0.0, trap_ns_per_hit) + std::max(0.0, bpf_ns_per_run)) * 1e-9;
  for (const auto& p : probes)
    decision.costs.push_back({p.probe, p.hits, static_cast<double>(p.hits) * per_hit_s, p.demotable});
  // Costliest first; ties by name so that the same input always demotes the same probes.
  std::sort(decision.costs.begin(), decision.costs.end(), [](const ProbeCost& a, const ProbeCost& b) {
    return a.seconds != b.seconds ? a.seconds > b.seconds : a.probe < b.probe;
  });
  for (const auto& c : decision.costs) decision.overhead_seconds += c.seconds;
  decision.target_cpu_seconds = target_cpu_seconds;

  // The overhead is billed to the target, so it is part of the CPU time measured: the target's
  // own work is T - O. An estimate above T (a calibration taken on a busier moment) leaves 0.
  const double judged_cpu = std::max(target_cpu_seconds, policy_.min_target_cpu_seconds);
  const double own_work = std::max(0.0, judged_cpu - decision.overhead_seconds);
  auto share_of = [own_work](double overhead) { return overhead > 0 ? overhead / (own_work + overhead) : 0.0; };
  decision.share = share_of(decision.overhead_seconds);
  double remaining = decision.overhead_seconds;
  if (policy_.max_share > 0) {
    for (const auto& c : decision.costs) {
      if (share_of(remaining) <= policy_.max_share || c.seconds <= 0) break;
      if (!c.demotable) continue;
      decision.demote.push_back(c.probe);
      remaining -= c.seconds;
    }
  }
  decision.share_after = share_of(std::max(0.0, remaining));
  return decision;
}

}  // namespace dwcp::agent
