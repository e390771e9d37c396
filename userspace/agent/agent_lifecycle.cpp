// Following targets: processes that exit, restart or execve(), --comm/--exe matches, discovery.
#include "agent/agent.h"

#include <algorithm>

#include "agent/identity.h"

namespace dwcp::agent {

void Agent::check_lifecycle() {
  check_targets();
  update_readiness();
}

void Agent::check_targets() {
  // Exits the kernel reported: each is acted on in this pass.
  const std::set<int> exited = std::move(exited_);
  exited_.clear();
  for (auto& target : targets_) {
    if (!target->attached() || (same_process_alive(*target->process()) && !exited.count(target->process()->pid)))
      continue;
    const ProcessInfo before = *target->process();
    // Ended (the kernel said so, or /proc shows it gone or a zombie, its exit event not read yet)
    // or execve()d in place (same PID and start time): only the latter may run the file again.
    auto running = inspect_process(before.pid);
    detach(*target, exited.count(before.pid) != 0 || !running || running->start_time != before.start_time);
    if (!follows(*target)) continue;
    // execve() in place: the same process (PID and start time) now runs another program, which
    // may not match --comm/--exe any more. It is its own successor: resolve it again.
    auto now = inspect_process(before.pid);
    if (now && now->start_time == before.start_time) {
      if (Refusal refusal = check_candidate(options_.policy, now->exe, now->creds, now->exe_path);
          refusal != Refusal::kNone)
        refusals_->refuse(refusal, now->exe, "process " + std::to_string(now->pid) + " (" + now->exe_link + ")");
      else
        attach_successor(*target, *now);
    }
  }

  for (auto& target : targets_) {
    if (target->attached() || !follows(*target)) continue;
    // A process another target already observes is not a candidate: two targets following the
    // same command name must not end up on one process.
    std::vector<int> taken;
    for (const auto& other : targets_)
      if (other->attached()) taken.push_back(other->process()->pid);
    if (auto process = find_allowed(target->spec().comm, target->spec().exe, taken))
      attach_successor(*target, *process);
  }
}

std::optional<ProcessInfo> Agent::find_allowed(const std::string& comm, const std::string& exe,
                                               const std::vector<int>& exclude) {
  for (int pid : find_processes(comm, exe, exclude)) {
    auto process = inspect_process(pid);
    if (!process) continue;
    const Refusal refusal = check_candidate(options_.policy, process->exe, process->creds, process->exe_path);
    if (refusal == Refusal::kNone) return std::move(process).value();
    // A user's process named like the target is passed over, counted once per process.
    const auto key = std::make_pair(process->pid, process->start_time);
    if (refused_followers_.insert(key).second) {
      if (refused_followers_.size() > 4096) refused_followers_ = {key};
      refusals_->refuse(refusal, process->exe,
                        "process " + std::to_string(pid) + " (" + process->exe_link + ", comm " +
                            escape_for_log(process->comm) + ")");
    }
  }
  return std::nullopt;
}

void Agent::handle_proc_events() {
  const std::vector<dwcp_proc_event> events = bpf_->take_proc_events();
  if (events.empty()) return;
  std::vector<int> execs;
  bool check = false;
  for (const auto& event : events) {
    const int pid = static_cast<int>(event.tgid);
    bool observed = false;
    for (const auto& target : targets_) observed = observed || target->attached_to(event.tgid);
    // An observed process that ended or execve()d in place: detach and follow at once. Its last
    // thread is exiting but /proc still shows it running: the kernel's word is taken.
    check = check || observed;
    if (event.kind == DWCP_PROC_EXIT && observed) exited_.insert(pid);
    if (event.kind == DWCP_PROC_EXEC && !observed) execs.push_back(pid);
  }
  // A --comm/--exe target waiting for its process: the new one may be it.
  for (const auto& target : targets_)
    check = check || (!execs.empty() && !target->attached() && follows(*target) && !discovery_);
  // Before discovery: a restarted service's old process must be gone for the new one to take
  // its target (and labels) back.
  if (check) check_lifecycle();
  if (discovery_ && !execs.empty()) discover(&execs);
}

void Agent::discover(const std::vector<int>* execs, bool judged_too) {
  // A process whose read was stuck is judged again once that read has ended: in this pass,
  // whether it is a scan or the check of a few execs (which would otherwise drop it).
  std::vector<int> pids = execs ? *execs : std::vector<int>{};
  const std::vector<int> still_stuck = loader_->stuck_pids();
  for (auto it = stuck_candidates_.begin(); it != stuck_candidates_.end();) {
    if (std::find(still_stuck.begin(), still_stuck.end(), *it) != still_stuck.end()) {
      ++it;
    } else {
      discovery_->forget(*it);
      if (std::find(pids.begin(), pids.end(), *it) == pids.end()) pids.push_back(*it);
      it = stuck_candidates_.erase(it);
    }
  }
  std::vector<int> observed;
  for (const auto& target : targets_)
    if (target->attached()) observed.push_back(target->process()->pid);
  for (ProcessInfo& process : execs ? discovery_->check(pids, observed) : discovery_->scan(observed, judged_too)) {
    const std::string who = "process " + std::to_string(process.pid) + " (" + process.exe_link + ")";
    Result<LoadedExecutable> read = loader_->load({process.pid, process.exe, profile_.package, true}, options_.stop);
    if (!read) {
      if (read.failure().kind == ErrorKind::kStopped) return;
      const Refusal refusal = load_refusal(read.failure());
      refusals_->refuse(refusal, process.exe, who + ": " + read.error());
      discovery_->settle(process, std::nullopt);
      if (refusal == Refusal::kStuck) stuck_candidates_.insert(process.pid);
      continue;
    }
    LoadedExecutable& loaded = *read;
    discovery_->settle(process, loaded.has_package);
    if (!loaded.has_package) continue;
    // A restart of a service seen before comes back to its target: same labels, its counters
    // continue. Labels name the service (cgroup) and executable, never the order of discovery.
    const Identity identity = identify_process(process.pid, process.exe_path, options_.pods_dir);
    Target* target = nullptr;
    for (auto& known : targets_)
      if (!target && !known->attached() && known->identity() == identity.target) target = known.get();
    if (!target) {
      if (targets_.size() >= DWCP_MAX_TARGETS) {
        refusals_->refuse(Refusal::kMaxTargets, process.exe, who);
        continue;
      }
      // Replicas in one scope running one executable: the second gets "-2", and so on.
      std::string label = identity.target;
      for (int n = 2;; ++n) {
        bool taken = false;
        for (const auto& known : targets_) taken = taken || known->label() == label;
        if (!taken) break;
        label = identity.target + "-" + std::to_string(n);
      }
      TargetSpec spec;
      spec.label = label;
      targets_.push_back(std::make_unique<Target>(spec, make_model(label, identity.labels), identity.target));
      target = targets_.back().get();
      log_.info("discovery: " + who + " holds " + profile_.package + ": observing it as target \"" + label + "\"");
    }
    if (Result<void> attached = attach_loaded(*target, process, loaded); !attached)
      log_.info("discovery: cannot attach to " + who + ": " + attached.error() + " (not retried for this process)");
  }
}

}  // namespace dwcp::agent
