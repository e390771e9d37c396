#include "agent/probe_budget.h"

#include <algorithm>
#include <cmath>

#include "dwcp_observer/contract.h"

namespace dwcp::agent {

bool budget_may_demote(dwcp_event_kind kind) { return contract::event_kind_info(kind).per_operation; }

double socket_seconds_in_targets(std::uint64_t run_time_ns, std::uint64_t runs, std::uint64_t target_runs) {
  if (runs == 0 || target_runs == 0) return 0;
  const double share = std::min(1.0, static_cast<double>(target_runs) / static_cast<double>(runs));
  return static_cast<double>(run_time_ns) * 1e-9 * share;
}

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
                                     double bpf_ns_per_run, double target_cpu_seconds, double wall_seconds,
                                     double socket_seconds) const {
  BudgetDecision decision;
  decision.socket_seconds = std::max(0.0, socket_seconds);
  const double per_hit_s = (std::max(0.0, trap_ns_per_hit) + std::max(0.0, bpf_ns_per_run)) * 1e-9;
  double missed = 0;  // what sampled probes would have cost in the time they were off
  for (const auto& p : probes) {
    const double seconds = static_cast<double>(p.hits) * per_hit_s;
    const double ratio = p.ratio > 0 && p.ratio < 1 ? p.ratio : 1.0;
    decision.costs.push_back({p.probe, p.hits, seconds, seconds / ratio, p.demotable});
    decision.overhead_seconds += seconds;
    missed += seconds / ratio - seconds;
  }
  if (decision.socket_seconds > 0) {
    decision.costs.push_back({"socket", 0, decision.socket_seconds, decision.socket_seconds, false});
    decision.overhead_seconds += decision.socket_seconds;
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
    const double sockets = decision.socket_seconds;  // not the budget's to cut: judged without it
    for (const auto& c : decision.costs) {
      if (share_of(overhead - sockets, cpu) <= policy_.max_share) break;
      if (!c.demotable || c.full_seconds <= 0) continue;
      const double others = overhead - sockets - c.full_seconds;
      const double cpu_without = cpu - c.full_seconds;
      const double r = fitting_ratio(c.full_seconds, others, cpu_without, wall, policy_.max_share);
      if (r >= 1) continue;
      decision.ratios[c.probe] = r;
      overhead = sockets + others + r * c.full_seconds;
      cpu = cpu_without + r * c.full_seconds;
    }
  }
  decision.share_after = share_of(overhead, cpu);
  return decision;
}

std::vector<std::string> ProbeBudget::cut_short(const std::vector<ProbeInterval>& so_far, double trap_ns_per_hit,
                                                double bpf_ns_per_run, double target_cpu_so_far, double elapsed_seconds,
                                                double interval_seconds) const {
  std::vector<std::string> cut;
  if (policy_.max_share <= 0 || interval_seconds <= 0 || elapsed_seconds <= 0) return cut;
  const double per_hit_s = (std::max(0.0, trap_ns_per_hit) + std::max(0.0, bpf_ns_per_run)) * 1e-9;
  const double allowance = policy_.max_share * std::max(interval_seconds, target_cpu_so_far);
  double total = 0;
  std::vector<std::pair<double, std::string>> candidates;
  for (const auto& p : so_far) {
    const double seconds = static_cast<double>(p.hits) * per_hit_s;
    total += seconds;
    if (p.demotable && p.ratio >= 1 && p.hits > 0) candidates.push_back({seconds, p.probe});
  }
  if (total <= allowance) return cut;
  // Costliest first; ties by name (the same input cuts the same probes).
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  // A burst makes every per-operation probe in it costly at once: all of them go now (waiting for
  // the next check to cut the second one let it trap another tenth of a second of a burst). One
  // that has cost next to nothing (under a tenth of the allowance) stays attached.
  for (const auto& [seconds, probe] : candidates)
    if (seconds >= allowance / 10) cut.push_back(probe);
  return cut;
}

}  // namespace dwcp::agent
