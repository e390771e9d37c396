#include "agent/follow_policy.h"

#include <fnmatch.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <sys/stat.h>

#include <algorithm>
#include "model/observer_families.h"

namespace dwcp::agent {
namespace {

constexpr std::size_t kMaxLogged = 4096;  // distinct (executable, reason) pairs remembered

bool allowed_uid(const std::vector<uid_t>& allow, uid_t uid) {
  return std::find(allow.begin(), allow.end(), uid) != allow.end();
}

}  // namespace

const char* refusal_name(Refusal reason) {
  switch (reason) {
    case Refusal::kNone:
      return "none";
    case Refusal::kOwner:
      return "owner";
    case Refusal::kWritable:
      return "writable";
    case Refusal::kUid:
      return "uid";
    case Refusal::kPath:
      return "path";
    case Refusal::kBuildId:
      return "build_id";
    case Refusal::kUnreadable:
      return "unreadable";
    case Refusal::kStuck:
      return "stuck";
    case Refusal::kMaxTargets:
      return "max_targets";
    case Refusal::kFileSystem:
      return "file_system";
    case Refusal::kCount:
      break;
  }
  return "unknown";
}

bool path_allowed(const std::string& pattern, const std::string& path) {
  if (pattern.empty()) return false;
  if (pattern.find_first_of("*?[") != std::string::npos) return fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
  if (path == pattern) return true;
  const std::string dir = pattern.back() == '/' ? pattern : pattern + "/";
  return path.compare(0, dir.size(), dir) == 0;
}

Refusal check_candidate(const FollowPolicy& policy, const FileIdentity& executable, const ProcessCredentials& creds,
                        const std::string& exe_path) {
  // The operator's scope first (discovery passes over what is out of it without a word), then
  // the rules that keep other users' binaries out.
  if (!policy.allow_uids.empty() &&
      !(allowed_uid(policy.allow_uids, creds.real) && allowed_uid(policy.allow_uids, creds.effective)))
    return Refusal::kUid;
  if (!policy.allow_paths.empty()) {
    // A binary replaced on disk while running reads "PATH (deleted)": judge PATH.
    static const std::string kDeleted = " (deleted)";
    std::string path = exe_path;
    if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
      path.resize(path.size() - kDeleted.size());
    bool any = false;
    for (const auto& pattern : policy.allow_paths) any = any || path_allowed(pattern, path);
    if (!any) return Refusal::kPath;
  }
  if (executable.owner != 0) return Refusal::kOwner;
  if (executable.mode & (S_IWGRP | S_IWOTH)) return Refusal::kWritable;
  return Refusal::kNone;
}

bool out_of_scope(Refusal reason) { return reason == Refusal::kUid || reason == Refusal::kPath; }

Refusal check_build_id(const FollowPolicy& policy, const std::string& gnu_build_id, const std::string& go_build_id) {
  if (policy.allow_build_ids.empty()) return Refusal::kNone;
  for (const auto& id : policy.allow_build_ids)
    if ((!gnu_build_id.empty() && id == gnu_build_id) || (!go_build_id.empty() && id == go_build_id))
      return Refusal::kNone;
  return Refusal::kBuildId;
}

void RefusalLog::refuse(Refusal reason, const FileIdentity& executable, const std::string& what,
                        Clock::time_point now) {
  std::string line;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_[static_cast<int>(reason)];
    auto key = std::make_pair(std::make_pair(executable.dev, executable.ino), static_cast<int>(reason));
    if (logged_.count(key)) return;
    if (logged_.size() >= kMaxLogged) logged_.clear();  // forget, rather than grow without bound
    logged_.insert(key);
    if (now - window_start_ >= std::chrono::minutes(1)) {
      if (suppressed_ > 0)
        line = std::to_string(suppressed_) +
               " more refused candidates were not logged in the last minute "
               "(dwcp_observer_discovery_refused_total counts them all)\n";
      window_start_ = now;
      lines_in_window_ = 0;
      suppressed_ = 0;
    }
    if (lines_in_window_ >= kLinesPerMinute) {
      ++suppressed_;
      if (line.empty()) return;
    } else {
      ++lines_in_window_;
      line += "not following " + what + ": " + refusal_name(reason) + " (" + [reason] {
        switch (reason) {
          case Refusal::kOwner:
            return "its executable is not owned by root";
          case Refusal::kWritable:
            return "its executable is writable by group or others";
          case Refusal::kUid:
            return "its uid is not in --allow-uid";
          case Refusal::kPath:
            return "its executable is not in --allow-path";
          case Refusal::kBuildId:
            return "its build id is not in --allow-build-id";
          case Refusal::kUnreadable:
            return "its executable could not be read as the same file";
          case Refusal::kStuck:
            return "reading its executable did not finish in time";
          case Refusal::kMaxTargets:
            return "the agent observes its maximum number of processes";
          case Refusal::kFileSystem:
            return "its executable is on a file system whose owners the kernel cannot vouch for; "
                   "--allow-fs TYPE allows one";
          default:
            return "";
        }
      }() + "); logged once";
    }
  }
  while (!line.empty()) {
    auto end = line.find('\n');
    log_.info(line.substr(0, end));
    line = end == std::string::npos ? "" : line.substr(end + 1);
  }
}

std::uint64_t RefusalLog::count(Refusal reason) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_[static_cast<int>(reason)];
}

std::vector<prometheus::MetricFamily> RefusalLog::Collect() const {
  prometheus::MetricFamily family = observer_families::metric_family(observer_families::Id::kDiscoveryRefused);
  std::lock_guard<std::mutex> lock(mutex_);
  // Every reason from the first scrape, at zero: rate() works at once.
  for (int r = 1; r < static_cast<int>(Refusal::kCount); ++r) {
    prometheus::ClientMetric m;
    m.label = {{"reason", refusal_name(static_cast<Refusal>(r))}};
    m.counter.value = static_cast<double>(counts_[r]);
    family.metric.push_back(std::move(m));
  }
  return {std::move(family)};
}

}  // namespace dwcp::agent
