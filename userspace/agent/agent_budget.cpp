// --probe-budget: every overhead interval, what the uprobes cost the targets, and re-attaching
// without the probes the budget controller (agent/probe_budget.h) demotes.
#include "agent/agent.h"

#include <cstdio>
#include <map>

#include "agent/site_planner.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {

using profile::join;

void Agent::relink(Target& target) {
  const ProcessInfo& process = *target.process;
  const std::string who = "process " + std::to_string(process.pid);
  auto binary = goelf::GoBinary::open(process.binary_path);
  if (!binary) {
    log("probe budget: cannot re-read the binary of " + who + " (" + binary.error() + "): probes unchanged");
    return;
  }
  auto dwarf = goelf::DwarfTypes::open(process.binary_path);
  SitePlan scan = plan_sites(profile_, *binary, dwarf ? &*dwarf : nullptr, demoted_,
                      bpf_->kernel_plan().refuse_per_chunk_probes);
  // The old link goes first: with both attached for a moment, entry-only probes would count
  // twice and RET sites would report unmatched exits. Calls made in the few milliseconds
  // between are not seen.
  detach_links(&target.links);
  std::string why;
  if (!scan.sites.empty()) {
    target.links = bpf_->attach_uprobes(process.pid, process.binary_path, scan.sites, &why);
    if (target.links.empty()) log("probe budget: cannot re-attach the remaining probes to " + who + ": " + why);
  }
  target.sites = target.links.empty() ? 0 : scan.sites.size();
  // A demoted probe has no state any more (dwcp_observer_probe_demoted says why); the others
  // keep theirs, unless the re-attach failed and nothing is attached.
  const bool attached = !target.links.empty() || scan.sites.empty();
  publish_sites(target, attached ? scan.states : decltype(scan.states){});
  log("probe budget: " + std::to_string(target.sites) + " uprobes now attached to " + who);
}

void Agent::account_overhead() {
  BpfCounters counters;
  bpf_->counters(&counters);
  double bpf_ns_per_run = 0;
  if (auto run = bpf_->program_stats()) {
    bpf_ns_per_run = ns_per_run(last_run_, *run);
    last_run_ = *run;
  }
  std::vector<ProbeInterval> intervals;
  for (const auto& probe : profile_.probes) {
    const std::uint64_t now = counters.probe_hits(probe.probe_id);
    const std::uint64_t before = last_counters_.probe_hits(probe.probe_id);
    intervals.push_back({probe.event, now >= before ? now - before : 0, budget_may_demote(probe.kind)});
  }
  last_counters_ = counters;

  // CPU time of the live targets over the interval; a target seen for the first time only
  // sets its baseline (its whole life's CPU against one interval's hits would mislead).
  double cpu = 0;
  bool complete = true;
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
  const BudgetDecision decision = ProbeBudget(policy).evaluate(intervals, trap_ns_, bpf_ns_per_run, cpu);
  observer_->add_probe_overhead(decision.costs);
  if (!complete) return;
  observer_->set_overhead_share(decision.share);
  if (decision.demote.empty()) return;

  for (const auto& name : decision.demote) {
    observer_->set_demoted(name);
    for (const auto& probe : profile_.probes)
      if (probe.event == name) demoted_.insert(probe.probe_id);
  }
  char share[96];
  std::snprintf(share, sizeof share, "%.1f %% of the targets' CPU over the last %lld s (budget %.1f %%)",
                100 * decision.share, static_cast<long long>(options_.overhead_interval.count()),
                100 * options_.probe_budget);
  log("probe budget: the uprobes cost an estimated " + std::string(share) + "; detaching " +
      join(decision.demote, ", ") + " (socket counters stay)");
  for (auto& target : targets_)
    if (target->process) relink(*target);
}

}  // namespace dwcp::agent
