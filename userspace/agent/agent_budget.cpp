// --probe-budget: every overhead interval, what the uprobes cost the targets, and the sampling of
// the per-operation probes the budget controller (agent/probe_budget.h) says do not fit.
//
// Sampling: a sampled probe is attached for the first ratio x interval seconds of every
// interval, then detached until the next one; never detached for good. Each per-operation
// probe has links of its own (agent_attach.cpp), so its windows never detach the probes that
// counts depend on (session_start, stream_open, session_close, reconnect, prune, migrations,
// federation). At a window's start, a call already running has its RET seen without its entry:
// the BPF side counts an unmatched exit, which the observer metrics report apart, in
// dwcp_observer_probe_sampling_edge_exits_total (not a loss, no alert); at a window's end the entries left
// waiting for their RET are deleted, so that none pairs with a later call's RET.
#include "agent/agent.h"

#include <cmath>
#include <cstdio>

#include "dwcp_observer/contract.h"

namespace dwcp::agent {

using profile::join;

Result<void> Agent::attach_sampled(Target& target, std::uint32_t probe_id) {
  auto it = target.per_operation.find(probe_id);
  if (it == target.per_operation.end() || !it->second.links.empty() || !target.process) return {};
  auto links = bpf_->attach_uprobes(target.process->pid, target.process->binary_path, it->second.sites);
  if (!links) return links.failure();
  it->second.links = std::move(links).value();
  return {};
}

void Agent::detach_sampled(Target& target, std::uint32_t probe_id) {
  auto it = target.per_operation.find(probe_id);
  if (it != target.per_operation.end()) detach_links(&it->second.links);
}

void Agent::end_sampling_windows() {
  if (window_end_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto it = window_end_.begin(); it != window_end_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    for (auto& target : targets_) detach_sampled(*target, it->first);
    bpf_->forget_inflight(it->first);
    it = window_end_.erase(it);
  }
}

namespace {

std::string percent(double share) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f %%", 100 * share);
  return text;
}

}  // namespace

void Agent::account_overhead() {
  const auto now = std::chrono::steady_clock::now();
  const bool first = last_overhead_at_ == std::chrono::steady_clock::time_point{};
  const double wall = first ? 0.0 : std::chrono::duration<double>(now - last_overhead_at_).count();
  last_overhead_at_ = now;

  BpfCounters counters;
  bpf_->counters(&counters);
  double bpf_ns_per_run = 0;
  if (auto run = bpf_->program_stats()) {
    bpf_ns_per_run = ns_per_run(last_run_, *run);
    last_run_ = *run;
  }
  std::vector<ProbeInterval> intervals;
  for (const auto& probe : profile_.probes) {
    const std::uint64_t hits_now = counters.probe_hits(probe.probe_id);
    const std::uint64_t before = last_counters_.probe_hits(probe.probe_id);
    auto ratio = interval_ratio_.find(probe.probe_id);
    intervals.push_back({probe.event, hits_now >= before ? hits_now - before : 0, budget_may_demote(probe.kind),
                         ratio == interval_ratio_.end() ? 1.0 : ratio->second});
  }
  last_counters_ = counters;

  // CPU time of the live targets over the interval; a target seen for the first time only
  // sets its baseline (its whole life's CPU against one interval's hits would mislead).
  double cpu = 0;
  bool complete = !first;
  std::map<int, double> seen;
  for (const auto& target : targets_) {
    if (!target->process) continue;
    auto seconds = process_cpu_seconds(target->process->pid);
    if (!seconds) continue;
    auto it = last_cpu_seconds_.find(target->process->pid);
    if (it == last_cpu_seconds_.end())
      complete = false;
    else
      cpu += *seconds - it->second;
    seen[target->process->pid] = *seconds;
  }
  last_cpu_seconds_ = std::move(seen);

  BudgetPolicy policy;
  policy.max_share = options_.probe_budget;
  const BudgetDecision decision = ProbeBudget(policy).evaluate(intervals, trap_ns_, bpf_ns_per_run, cpu, wall);
  observer_->add_probe_overhead(decision.costs);
  if (complete) {
    observer_->set_overhead_share(decision.share);
    std::map<std::uint32_t, double> ratios;
    for (const auto& probe : profile_.probes)
      if (auto r = decision.ratios.find(probe.event); r != decision.ratios.end()) ratios[probe.probe_id] = r->second;
    if (ratios != sample_ratio_) {
      std::vector<std::string> sampled, restored;
      for (const auto& [id, r] : ratios)
        sampled.push_back(profile_.probes[id].event + " " + std::to_string(std::lround(100 * r)) + " %");
      for (const auto& [id, r] : sample_ratio_)
        if (!ratios.count(id)) restored.push_back(profile_.probes[id].event);
      const std::string interval = std::to_string(options_.overhead_interval.count()) + " s";
      std::string message = "probe budget: the uprobes would cost " + percent(decision.share_full) +
                            " of one core or of the targets' CPU, whichever is more, over the last " + interval +
                            " (budget " + percent(options_.probe_budget) + "; the rule: docs/performance.md)";
      if (!sampled.empty())
        message += "; sampling " + join(sampled, ", ") + " of every " + interval + " (estimated " +
                   percent(decision.share_after) + " then; the other probes stay attached)";
      if (!restored.empty()) message += "; attached all the time again: " + join(restored, ", ");
      log_.warn(message);
      // Unmatched exits of a probe sampled now or in the interval that ends are sampling edges.
      std::set<std::uint32_t> edges;
      for (const auto& [id, r] : ratios) edges.insert(id);
      for (const auto& [id, r] : sample_ratio_) edges.insert(id);
      sample_ratio_ = std::move(ratios);
      observer_->set_sampling(sample_ratio_, edges);
      for (auto& target : targets_)
        if (target->process) publish_sites(*target);
    } else {
      std::set<std::uint32_t> edges;
      for (const auto& [id, r] : sample_ratio_) edges.insert(id);
      observer_->set_sampling(sample_ratio_, edges);
    }
  }

  // The next interval's windows: every per-operation probe is attached now; a sampled one until
  // ratio x interval from now (end_sampling_windows detaches it then).
  window_end_.clear();
  for (const auto& [id, r] : sample_ratio_)
    window_end_[id] = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(r * options_.overhead_interval.count()));
  interval_ratio_ = sample_ratio_;
  for (auto& target : targets_) {
    if (!target->process) continue;
    for (const auto& [id, group] : target->per_operation) {
      if (Result<void> attached = attach_sampled(*target, id); !attached)
        log_.warn("probe budget: cannot re-attach probe " + profile_.probes[id].event + " to process " +
                  std::to_string(target->process->pid) + " for its sampling window: " + attached.error() +
                  " (tried again next interval)");
    }
  }
}

}  // namespace dwcp::agent
