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

void Agent::end_sampling_windows() {
  if (window_end_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto it = window_end_.begin(); it != window_end_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    for (auto& target : targets_) target->detach_sampled(it->first);
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
  // The share of the interval each probe was attached, when not all of it: a sampled probe for its
  // window (ratio x the interval planned), a probe cut short until the moment it was cut.
  std::map<std::uint32_t, double> attached_share;
  if (wall > 0) {
    for (const auto& [id, r] : interval_ratio_) attached_share[id] = std::min(1.0, r * planned_interval_s_ / wall);
    for (const auto& [id, at] : cut_at_)
      attached_share[id] = std::clamp(std::chrono::duration<double>(at - last_overhead_at_).count() / wall, 0.01, 1.0);
  }
  last_overhead_at_ = now;
  early_tick_ = {};

  BpfCounters counters;
  bpf_->counters(&counters);
  double bpf_ns_per_run = 0;
  if (auto run = bpf_->program_stats()) {
    bpf_ns_per_run = ns_per_run(last_run_, *run);
    last_run_ = *run;
  }
  if (bpf_ns_per_run > 0) bpf_ns_per_run_ = bpf_ns_per_run;  // for check_interval_budget
  std::vector<ProbeInterval> intervals;
  for (const auto& probe : profile_.probes) {
    const std::uint64_t hits_now = counters.probe_hits(probe.probe_id);
    const std::uint64_t before = last_counters_.probe_hits(probe.probe_id);
    auto ratio = attached_share.find(probe.probe_id);
    intervals.push_back({probe.event, hits_now >= before ? hits_now - before : 0, budget_may_demote(probe.kind),
                         ratio == attached_share.end() ? 1.0 : ratio->second});
  }
  last_counters_ = counters;

  // CPU time of the live targets over the interval; a target seen for the first time only
  // sets its baseline (its whole life's CPU against one interval's hits would mislead). The
  // same for their socket program runs (counted calls and RTT samples).
  double cpu = 0;
  std::uint64_t target_socket_runs = gone_socket_runs_;  // of targets that went since the last tick
  gone_socket_runs_ = 0;
  bool complete = !first;
  std::map<int, double> seen;
  std::map<int, std::uint64_t> seen_socket_runs;
  for (const auto& target : targets_) {
    if (!target->attached()) continue;
    const int pid = target->process()->pid;
    // Socket runs first: a process that just exited (no CPU figure any more) keeps them until its
    // detach reads its last ones (Agent::detach).
    dwcp_sock_stats st{};
    if (bpf_->sock_stats(static_cast<std::uint32_t>(pid), &st)) {
      const std::uint64_t runs = socket_program_runs(st);
      auto before = last_socket_runs_.find(pid);
      if (before != last_socket_runs_.end() && runs >= before->second) target_socket_runs += runs - before->second;
      seen_socket_runs[pid] = runs;
    }
    auto seconds = process_cpu_seconds(pid);
    if (!seconds) continue;
    auto it = last_cpu_seconds_.find(pid);
    if (it == last_cpu_seconds_.end()) {
      complete = false;
      // A target seen for the first time gets its first decision after 1 s, not a whole interval.
      early_tick_ = now + std::chrono::seconds(1);
    } else {
      cpu += *seconds - it->second;
    }
    seen[pid] = *seconds;
  }
  last_cpu_seconds_ = std::move(seen);
  last_socket_runs_ = std::move(seen_socket_runs);
  double socket_seconds = 0;
  if (auto sockets = bpf_->socket_program_stats()) {
    if (sockets->run_time_ns >= last_sockets_.run_time_ns && sockets->hot_runs >= last_sockets_.hot_runs)
      socket_seconds = socket_seconds_in_targets(sockets->run_time_ns - last_sockets_.run_time_ns,
                                                 sockets->hot_runs - last_sockets_.hot_runs, target_socket_runs);
    last_sockets_ = *sockets;
  }

  BudgetPolicy policy;
  policy.max_share = options_.probe_budget;
  const BudgetDecision decision =
      ProbeBudget(policy).evaluate(intervals, trap_ns_, bpf_ns_per_run, cpu, wall, socket_seconds);
  observer_->add_probe_overhead(decision.costs);
  std::map<std::uint32_t, double> ratios;
  // Sampling attaches and detaches uprobes under a running target every interval. With classic
  // uprobes (kernels before uprobe_multi, 6.6) the 5.10 guests crashed a Go target in the XOL page
  // and spun in the kernel while that happened (docs/kernels.md, open): there the budget only
  // measures and says so, it never samples.
  const bool may_sample = bpf_->kernel_plan().uprobe_links == UprobeLinks::kMulti;
  if (!may_sample && !decision.ratios.empty() && !warned_no_sampling_) {
    log_.warn(
        "probe budget: over budget, but this kernel has no uprobe_multi links: probes are not sampled here "
        "(docs/kernels.md)");
    warned_no_sampling_ = true;
  }
  for (const auto& probe : profile_.probes)
    if (auto r = decision.ratios.find(probe.event); may_sample && r != decision.ratios.end())
      ratios[probe.probe_id] = r->second;
  // Unmatched exits of a probe sampled now, or sampled or cut short in the interval that ends, are
  // sampling edges.
  std::set<std::uint32_t> edges;
  for (const auto& [id, r] : sample_ratio_) edges.insert(id);
  for (const auto& [id, at] : cut_at_) edges.insert(id);
  if (!complete) {  // a new target's baseline: no decision
    tick_edges_ = edges;
    observer_->set_sampling(sample_ratio_, edges);
  }
  if (complete) {
    observer_->set_overhead_share(decision.share);
    for (const auto& [id, r] : ratios) edges.insert(id);
    tick_edges_ = edges;  // open until the next tick (check_interval_budget adds the probes it cuts)
    if (ratios != sample_ratio_ || !cut_at_.empty()) {
      std::vector<std::string> sampled, restored;
      for (const auto& [id, r] : ratios)
        sampled.push_back(profile_.probes[id].event + " " + std::to_string(std::lround(100 * r)) + " %");
      for (const auto id : edges)
        if (!ratios.count(id) && (sample_ratio_.count(id) || cut_at_.count(id)))
          restored.push_back(profile_.probes[id].event);
      const std::string interval = std::to_string(options_.overhead_interval.count()) + " s";
      char last[32];
      std::snprintf(last, sizeof last, "%.1f s", wall);
      std::string message = "probe budget: the uprobes would cost " +
                            percent(decision.share_full - decision.socket_seconds / decision.judged_seconds) +
                            " of one core or of the targets' CPU, whichever is more, over the last " + last +
                            " (budget " + percent(options_.probe_budget) + "; the socket programs " +
                            percent(decision.socket_seconds / decision.judged_seconds) +
                            " besides; the rule: docs/performance.md)";
      if (!sampled.empty())
        message += "; sampling " + join(sampled, ", ") + " of every " + interval + " (estimated " +
                   percent(decision.share_after) + " then with the socket programs; the other probes stay attached)";
      if (!restored.empty()) message += "; attached all the time again: " + join(restored, ", ");
      log_.warn(message);
      sample_ratio_ = std::move(ratios);
      observer_->set_sampling(sample_ratio_, edges);
      for (auto& target : targets_)
        if (target->attached()) publish_sites(*target);
    } else {
      observer_->set_sampling(sample_ratio_, edges);
    }
  }

  // The next interval's windows: every per-operation probe is attached now; a sampled one until
  // ratio x interval from now (end_sampling_windows detaches it then).
  window_end_.clear();
  cut_at_.clear();
  planned_interval_s_ = early_tick_ != std::chrono::steady_clock::time_point{}
                            ? std::chrono::duration<double>(early_tick_ - now).count()
                            : static_cast<double>(options_.overhead_interval.count());
  for (const auto& [id, r] : sample_ratio_)
    window_end_[id] = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(r * options_.overhead_interval.count()));
  interval_ratio_ = sample_ratio_;
  for (auto& target : targets_) {
    if (!target->attached()) continue;
    for (const std::uint32_t id : target->sampled_probe_ids()) {
      if (Result<void> attached = target->attach_sampled(*bpf_, id); !attached)
        log_.warn("probe budget: cannot re-attach probe " + profile_.probes[id].event + " to process " +
                  std::to_string(target->process()->pid) + " for its sampling window: " + attached.error() +
                  " (tried again next interval)");
    }
  }
}

void Agent::check_interval_budget() {
  if (options_.probe_budget <= 0 || planned_interval_s_ <= 0 ||
      bpf_->kernel_plan().uprobe_links != UprobeLinks::kMulti ||
      last_overhead_at_ == std::chrono::steady_clock::time_point{})
    return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - last_overhead_at_).count();
  // Only the per-operation probes: the others are hit once per session or stream, and two map
  // reads per probe keep this check cheap enough to run with every poll.
  std::vector<ProbeInterval> so_far;
  for (const auto& probe : profile_.probes) {
    if (!budget_may_demote(probe.kind)) continue;
    const std::uint64_t hits_now = bpf_->probe_hits(probe.probe_id);
    const std::uint64_t before = last_counters_.probe_hits(probe.probe_id);
    // Only probes attached all the time so far are candidates (ratio 1): not one sampled by the
    // last tick (its window is the budget's already), nor one already cut.
    double ratio = 1.0;
    if (auto r = interval_ratio_.find(probe.probe_id); r != interval_ratio_.end()) ratio = r->second;
    if (cut_at_.count(probe.probe_id)) ratio = 0;
    so_far.push_back({probe.event, hits_now >= before ? hits_now - before : 0, true, ratio});
  }
  BudgetPolicy policy;
  policy.max_share = options_.probe_budget;
  const ProbeBudget budget(policy);
  // Against one core first: the targets' CPU only raises the allowance, so it is read only when
  // that already finds something to cut.
  if (budget.cut_short(so_far, trap_ns_, bpf_ns_per_run_, 0, elapsed, planned_interval_s_).empty()) return;
  double cpu = 0;  // the targets' CPU so far (those with a baseline)
  for (const auto& target : targets_) {
    if (!target->attached()) continue;
    auto it = last_cpu_seconds_.find(target->process()->pid);
    auto seconds = it == last_cpu_seconds_.end() ? std::nullopt : process_cpu_seconds(target->process()->pid);
    if (seconds) cpu += *seconds - it->second;
  }
  const auto cut = budget.cut_short(so_far, trap_ns_, bpf_ns_per_run_, cpu, elapsed, planned_interval_s_);
  if (cut.empty()) return;

  // Shown as sampled until the next tick (the counts they feed cover only part of this interval),
  // at the share of the interval they were attached. Their unmatched exits are sampling edges from
  // before the detach on: a RET may still come after it, its entry forgotten.
  for (const auto& probe : profile_.probes)
    if (std::find(cut.begin(), cut.end(), probe.event) != cut.end()) cut_at_[probe.probe_id] = now;
  std::map<std::uint32_t, double> shown = sample_ratio_;
  for (const auto& [id, at] : cut_at_) {
    shown[id] =
        std::clamp(std::chrono::duration<double>(at - last_overhead_at_).count() / planned_interval_s_, 0.01, 1.0);
    tick_edges_.insert(id);
  }
  observer_->set_sampling(shown, tick_edges_);
  for (const auto& probe : profile_.probes) {
    if (std::find(cut.begin(), cut.end(), probe.event) == cut.end()) continue;
    for (auto& target : targets_) target->detach_sampled(probe.probe_id);
    bpf_->forget_inflight(probe.probe_id);
  }
  for (auto& target : targets_)
    if (target->attached()) publish_sites(*target);
  char spent[96];
  std::snprintf(spent, sizeof spent, "%.1f s of a %.0f s interval", elapsed, planned_interval_s_);
  log_.warn("probe budget: the uprobes already cost more in the first " + std::string(spent) +
            " than the whole interval allows (" + percent(options_.probe_budget) +
            " of one core or of the targets' CPU): " + join(cut, ", ") +
            " detached until the next evaluation (then sampled as the rule says; the other probes stay attached)");
}

}  // namespace dwcp::agent
