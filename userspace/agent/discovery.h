// Finds DWCP processes on the node without being told a PID: the kernel tells the agent of each
// exec (sched_process_exec, agent/bpf_session.h) and check() judges that process at once; a scan
// lists /proc (at start, then as a slow resync for what the events missed) and looks at each
// process that is new or has execve()d since it was last looked at, applies the follow policy
// (agent/follow_policy.h) from /proc alone, and hands over the processes whose executable may
// hold the profile's package. Reading the binary is the caller's (on a worker with a deadline);
// its verdict is remembered per executable identity (dev, inode, size, mtime, ctime), so each
// binary on the node is read once, however many processes run it or restart.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <vector>

#include "agent/executable.h"
#include "agent/follow_policy.h"
#include "agent/process.h"

namespace dwcp::agent {

struct DiscoveryLimits {
  std::size_t max_inspections_per_scan = 1024;  // processes read from /proc per scan (the rest: next scan)
  std::size_t max_candidates_per_scan = 4;      // binaries handed over for reading per scan
  std::size_t max_verdicts = 4096;              // executable identities remembered
};

class Discovery {
 public:
  Discovery(FollowPolicy policy, RefusalLog* refusals, DiscoveryLimits limits = {})
      : policy_(std::move(policy)), refusals_(refusals), limits_(limits) {}

  // One bounded pass over /proc. Returns the new (or re-executed) processes that pass the
  // policy and whose executable is not known to lack the package; `observed` are the PIDs the
  // agent attached already. Refused processes are counted and logged (once) here.
  // `judged_too` false: only processes never judged are looked at (a resync while the kernel
  // lost no exec event: every execve() of the others was reported and judged).
  std::vector<ProcessInfo> scan(const std::vector<int>& observed, bool judged_too = true);
  // Whether the last scan looked at every process (false: it stopped at a limit; scan again soon).
  bool complete() const { return complete_; }
  // The same judgement for the processes that just execve()d (no limit: one per exec event).
  std::vector<ProcessInfo> check(const std::vector<int>& pids, const std::vector<int>& observed);

  // The caller read `process`'s executable: remember whether it holds the package (per file
  // identity) and that this process was judged (it is looked at again only after an execve).
  void settle(const ProcessInfo& process, std::optional<bool> holds_package);
  // Look at `pid` again at the next scan (its read was stuck and has ended).
  void forget(int pid) { seen_.erase(pid); }

  std::size_t verdicts() const { return verdicts_.size(); }
  const FollowPolicy& policy() const { return policy_; }

 private:
  // Judges one process; appends it to *candidates when its executable is to be read.
  void consider(int pid, std::vector<ProcessInfo>* candidates, std::size_t* inspected);
  struct Seen {
    std::uint64_t start_time = 0;
    FileIdentity exe;
  };
  FollowPolicy policy_;
  RefusalLog* refusals_;
  DiscoveryLimits limits_;
  bool complete_ = false;
  std::map<int, Seen> seen_;               // by PID: judged already, as this (start time, file)
  std::map<FileIdentity, bool> verdicts_;  // executable -> holds the profile's package
};

}  // namespace dwcp::agent
