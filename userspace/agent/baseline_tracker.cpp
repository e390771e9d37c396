#include "agent/baseline_tracker.h"

namespace dwcp::agent {

void BaselineTracker::stored(const std::string& key, std::uint64_t ts_ns) {
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {  // a refresh: the same key, a newer baseline
    by_age_.erase({it->second, key});
    it->second = ts_ns;
    by_age_.insert({ts_ns, key});
    return;
  }
  if (by_key_.size() >= kMaxKeys) {
    ++unnamed_;
    return;
  }
  by_key_.emplace(key, ts_ns);
  by_age_.insert({ts_ns, key});
}

void BaselineTracker::pruned(std::uint64_t pruned) {
  const std::uint64_t from_unnamed = pruned < unnamed_ ? pruned : unnamed_;
  unnamed_ -= from_unnamed;
  pruned -= from_unnamed;
  while (pruned > 0 && !by_age_.empty()) {
    by_key_.erase(by_age_.begin()->second);
    by_age_.erase(by_age_.begin());
    --pruned;
  }
}

}  // namespace dwcp::agent
