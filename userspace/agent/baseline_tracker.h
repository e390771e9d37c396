// The delta encoder's baselines as DWCP counts them (catalogue §5): `baseline_count` is the
// number of state keys the encoder holds. An Encode that creates or refreshes a baseline
// returns IsDelta=false either way, so which one it was depends on whether the key is already
// held: the tracker keeps the keys it has seen stored, with the time of their last store.
// PruneOldBaselines removes the baselines stored longest ago (DWCP prunes by age) and returns
// only how many: the tracker drops that many of its oldest keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace dwcp::agent {

class BaselineTracker {
 public:
  // Keys beyond this many are counted but not named (a target with unbounded keys must not
  // grow the agent without bound); they are taken as the oldest when a prune comes.
  static constexpr std::size_t kMaxKeys = 65536;

  // A baseline stored for `key` at `ts_ns` (created, or refreshed when the key is held).
  void stored(const std::string& key, std::uint64_t ts_ns);
  // PruneOldBaselines returned `pruned`.
  void pruned(std::uint64_t pruned);
  std::int64_t count() const { return static_cast<std::int64_t>(by_key_.size() + unnamed_); }

 private:
  std::map<std::string, std::uint64_t> by_key_;             // key -> time of its last store
  std::set<std::pair<std::uint64_t, std::string>> by_age_;  // (time, key), oldest first
  std::uint64_t unnamed_ = 0;
};

}  // namespace dwcp::agent
