#include "agent/discovery.h"

#include <algorithm>
#include <set>

namespace dwcp::agent {

std::vector<ProcessInfo> Discovery::scan(const std::vector<int>& observed, bool judged_too) {
  std::vector<ProcessInfo> candidates;
  const std::vector<int> pids = list_pids();
  const std::set<int> present(pids.begin(), pids.end());
  for (auto it = seen_.begin(); it != seen_.end();) it = present.count(it->first) ? std::next(it) : seen_.erase(it);

  std::size_t inspected = 0;
  complete_ = false;
  for (int pid : pids) {
    if (candidates.size() >= limits_.max_candidates_per_scan || inspected >= limits_.max_inspections_per_scan)
      return candidates;
    if (std::find(observed.begin(), observed.end(), pid) != observed.end()) continue;
    if (!judged_too && seen_.count(pid)) continue;  // no statx: 5,000 of them cost ~50 ms a resync
    consider(pid, &candidates, &inspected);
  }
  complete_ = true;
  return candidates;
}

std::vector<ProcessInfo> Discovery::check(const std::vector<int>& pids, const std::vector<int>& observed) {
  std::vector<ProcessInfo> candidates;
  std::size_t inspected = 0;
  // One batch may hold a pid twice (`sh -c 'exec dwcp'`: two execs, one process): judged once,
  // or the second would become a replica "-2" of the first.
  std::vector<int> unique_pids = pids;
  std::sort(unique_pids.begin(), unique_pids.end());
  unique_pids.erase(std::unique(unique_pids.begin(), unique_pids.end()), unique_pids.end());
  for (int pid : unique_pids) {
    if (std::find(observed.begin(), observed.end(), pid) != observed.end()) continue;
    // An exec is a new program even when the file is the one this PID ran when it was judged (a
    // PID reused by a restart of the same binary, 32,768 PIDs wrap within minutes on a busy node;
    // a program that execs itself): judged afresh, not passed over until the next resync.
    seen_.erase(pid);
    consider(pid, &candidates, &inspected);
  }
  return candidates;
}

void Discovery::consider(int pid, std::vector<ProcessInfo>* candidates, std::size_t* inspected) {
  // One statx per known process and scan (no file system I/O): has it execve()d?
  auto exe = peek_executable(pid);
  if (!exe) return;  // kernel thread, gone, or not inspectable
  auto known = seen_.find(pid);
  if (known != seen_.end() && known->second.exe == *exe) return;
  ++*inspected;
  auto process = inspect_process(pid);
  if (!process) return;
  if (known != seen_.end() && known->second.start_time == process->start_time && known->second.exe == process->exe)
    return;
  // Judged by what /proc says, before anything of the file is read: a binary a local user
  // controls is never parsed.
  const Refusal refusal = check_candidate(policy_, process->exe, process->creds, process->exe_path);
  if (refusal != Refusal::kNone) {
    if (!out_of_scope(refusal))
      refusals_->refuse(refusal, process->exe,
                        "process " + std::to_string(pid) + " (" + process->exe_link + ", comm " +
                            escape_for_log(process->comm) + ")");
    seen_[pid] = {process->start_time, process->exe};
    return;
  }
  auto verdict = verdicts_.find(process->exe);
  if (verdict != verdicts_.end() && !verdict->second) {
    seen_[pid] = {process->start_time, process->exe};
    return;
  }
  candidates->push_back(std::move(*process));
}

void Discovery::settle(const ProcessInfo& process, std::optional<bool> holds_package) {
  seen_[process.pid] = {process.start_time, process.exe};
  if (!holds_package) return;                                       // not read (stuck, changed): no verdict on the file
  if (verdicts_.size() >= limits_.max_verdicts) verdicts_.clear();  // re-reading beats growing
  verdicts_[process.exe] = *holds_package;
}

}  // namespace dwcp::agent
