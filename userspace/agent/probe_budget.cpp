#include "agent/probe_budget.h"

#include <algorithm>
#include <cmath>

#include "dwcp_observer/contract.h"

namespace dwcp::agent {

bool budget_may_demote(dwcp_event_kind kind) { return contract::event_kind_info(kind).per_operation; }

namespace {

// The largest ratio r of a probe costing c (full time) for which (O + r c) / max(T + r c, W) <= B,
// O and T being the overhead and target CPU without the probe. The share is the smaller of
// (O + r c) / W and (O + r c) / (T + r c), so either bound suffices:
//   (O + r c) / W <= B            <=>  r <= (B W - O) / c
//   (O + r c) / (T + r c) <= B    <=>  r <= (B T - O) / (c (1 - B))
double fitting_ratio(double c, double others, double cpu_without, double wall, double budget) {
  const double by_core = (budget * wall - others) / c;
  const double by_cpu = budget < 1 ? (budget * cpu_without - others) / (c * (1 - budget)) : 1.0;
  const double r = std::max(by_core, by_cpu);
  // Down to a multiple of the step (with a little slack for rounding), never below one step.
  const double steps = std::floor(r / kSampleRatioStep + 1e-9);
  return std::clamp(steps * kSampleRatioStep, kSampleRatioStep, 1.0);
}

}  // namespace

BudgetDecision ProbeBudget::evaluate(const std::vector<ProbeInterval>& probes, double trap_ns_per_hit,
                                     double bpf_ns_per_run, double target_cpu_seconds, double wall_seconds) const {
  BudgetDecision decision;
  const double per_hit_s = (std::max(0.0, trap_ns_per_hit) + std::max(0.0, bpf_ns_per_run)) * 1e-9;
  double missed = 0;  // what sampled probes would have cost in the time they were off
  for (const auto& p : probes) {
    const double seconds = static_cast<double>(p.hits) * per_hit_s;
    const double ratio = p.ratio > 0 && p.ratio < 1 ? p.ratio : 1.0;
    decision.costs.push_back({p.probe, p.hits, seconds, seconds / ratio, p.demotable});
    decision.overhead_seconds += seconds;
    missed += seconds / ratio - seconds;
  }
  // Costliest first; ties by name so that the same input always samples the same probes.
  std::sort(decision.costs.begin(), decision.costs.end(), [](const ProbeCost& a, const ProbeCost& b) {
    return a.full_seconds != b.full_seconds ? a.full_seconds > b.full_seconds : a.probe < b.probe;
  });
  decision.target_cpu_seconds = target_cpu_seconds;
  const double wall = std::max(0.0, wall_seconds);
  auto share_of = [wall](double overhead, double cpu) {
    const double judged = std::max(cpu, wall);
    return overhead > 0 && judged > 0 ? overhead / judged : 0.0;
  };
  decision.judged_seconds = std::max(target_cpu_seconds, wall);
  decision.share = share_of(decision.overhead_seconds, target_cpu_seconds);

  // The full-time picture: every probe attached all the interval.
  double overhead = decision.overhead_seconds + missed;
  double cpu = target_cpu_seconds + missed;
  decision.share_full = share_of(overhead, cpu);
  if (policy_.max_share > 0) {
    for (const auto& c : decision.costs) {
      if (share_of(overhead, cpu) <= policy_.max_share) break;
      if (!c.demotable || c.full_seconds <= 0) continue;
      const double others = overhead - c.full_seconds;
      const double cpu_without = cpu - c.full_seconds;
      const double r = fitting_ratio(c.full_seconds, others, cpu_without, wall, policy_.max_share);
      if (r >= 1) continue;
      decision.ratios[c.probe] = r;
      overhead = others + r * c.full_seconds;
      cpu = cpu_without + r * c.full_seconds;
    }
  }
  decision.share_after = share_of(overhead, cpu);
  return decision;
}

}  // namespace dwcp::agent
