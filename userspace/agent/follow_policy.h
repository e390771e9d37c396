// Who the root agent may follow. The agent parses the executable of every process it follows
// and writes breakpoints into it: a local user must not be able to make it follow, or even
// parse, a binary of their own (docs/security.md). By default only executables owned by root
// and not writable by group or others are followed; the operator may narrow that further by
// the uid the process runs as, the executable's path or its build id.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/executable.h"
#include "agent/process.h"
#include "log/log.h"

namespace dwcp::agent {

struct FollowPolicy {
  std::vector<uid_t> allow_uids;             // --allow-uid: the process's real and effective uid; empty: any
  std::vector<std::string> allow_paths;      // --allow-path: glob, or a directory prefix; empty: any
  std::vector<std::string> allow_build_ids;  // --allow-build-id: GNU or Go build id; empty: any
  // --allow-fs: file system types (as /proc/mounts names them: "fuse.sshfs", "nfs4") the
  // operator vouches for, besides the local ones the kernel keeps owners on (trusted_fs_type).
  std::vector<std::string> allow_fs_types;
};

// Why a candidate is not followed. The names are the `reason` label values.
enum class Refusal : int {
  kNone = 0,
  kOwner,       // executable not owned by root
  kWritable,    // executable writable by group or others
  kUid,         // process uid not in --allow-uid
  kPath,        // executable path not in --allow-path
  kBuildId,     // build id not in --allow-build-id
  kUnreadable,  // the executable could not be opened, or changed while it was read
  kStuck,       // reading the executable did not finish before the deadline
  kMaxTargets,  // DWCP_MAX_TARGETS processes are observed already
  kFileSystem,  // executable on a file system whose owners the kernel cannot vouch for (FUSE, NFS, ...)
  kCount,
};
const char* refusal_name(Refusal reason);

// The checks that need no read of the file: owner, mode, process uid, path. `exe_path` is the
// executable's path as the process sees it (readlink of /proc/PID/exe; " (deleted)" allowed).
Refusal check_candidate(const FollowPolicy& policy, const FileIdentity& executable, const ProcessCredentials& creds,
                        const std::string& exe_path);
// --allow-uid / --allow-path say what the operator wants watched: discovery passes over the
// processes outside them silently (they are not candidates); other refusals are counted and logged.
bool out_of_scope(Refusal reason);
// After the binary was read: its build id (GNU, else Go) against --allow-build-id.
Refusal check_build_id(const FollowPolicy& policy, const std::string& gnu_build_id, const std::string& go_build_id);
// --allow-path semantics: a pattern with *, ? or [ is an fnmatch glob over the whole path; a
// pattern without is a path or a directory prefix ("/opt/novacron" matches "/opt/novacron/bin/x").
bool path_allowed(const std::string& pattern, const std::string& path);

// Counts refused candidates (dwcp_observer_discovery_refused_total{reason}) and logs each one
// once — once per executable and reason, so a new fake every 0.1 s from the same binary is one
// line — at most `kLinesPerMinute` lines a minute; the rest are counted and summed up later.
class RefusalLog : public prometheus::Collectable {
 public:
  static constexpr int kLinesPerMinute = 10;
  using Clock = std::chrono::steady_clock;
  // Lines go to `log` at info level (a refusal is the policy working, not a fault).
  explicit RefusalLog(log::Logger log = {}) : log_(std::move(log)) {}

  // `what` is already escaped for the log (escape_for_log).
  void refuse(Refusal reason, const FileIdentity& executable, const std::string& what,
              Clock::time_point now = Clock::now());
  std::uint64_t count(Refusal reason) const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  log::Logger log_;
  mutable std::mutex mutex_;
  std::array<std::uint64_t, static_cast<int>(Refusal::kCount)> counts_{};
  std::set<std::pair<std::pair<dev_t, ino_t>, int>> logged_;
  Clock::time_point window_start_{};
  int lines_in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace dwcp::agent
