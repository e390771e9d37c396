// The model's storage: series of plain atomics, written without a lock on the hot paths, and the
// lock-free tables that map a hot label value (a stream id, a data type) to its series.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace dwcp::model_detail {

inline void add_double(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// One series: a counter uses `count`, a gauge `value`, a histogram `buckets` + `sum`.
struct Series {
  explicit Series(std::size_t bucket_count) : buckets(bucket_count + 1) {}
  std::atomic<std::uint64_t> count{0};
  std::atomic<double> value{0};
  std::vector<std::atomic<std::uint64_t>> buckets;  // per bucket (not cumulative), last = +Inf
  std::atomic<double> sum{0};
};

inline void observe(Series& series, const std::vector<double>& bounds, double value) {
  std::size_t index = 0;
  while (index < bounds.size() && value > bounds[index]) ++index;
  series.buckets[index].fetch_add(1, std::memory_order_relaxed);
  add_double(series.sum, value);
}

struct FamilyStore {
  mutable std::mutex mutex;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series;
};

// Distinct values seen of one capped label.
struct LabelDomain {
  std::mutex mutex;
  std::unordered_set<std::string> values;
  std::size_t seeded = 0;  // values the model itself knows (not counted against the cap)
};

// A fixed-size open-addressing table that readers search without any lock: entries are
// immutable once published and live as long as the model. Writers hold the model's hot-path
// mutex. At most half full, so a search always ends on an empty slot.
template <typename Cells>
class HotTable {
 public:
  struct Entry {
    std::size_t hash;
    std::string key;
    Cells cells;
  };

  const Cells* find(std::size_t hash, std::string_view key) const {
    for (std::size_t i = 0; i < kSlots; ++i) {
      const Entry* entry = slots_[(hash + i) & (kSlots - 1)].load(std::memory_order_acquire);
      if (entry == nullptr) return nullptr;
      if (entry->hash == hash && entry->key == key) return &entry->cells;
    }
    return nullptr;
  }

  // Returns false when the table is full (the caller then resolves under its lock each time).
  bool insert(std::size_t hash, std::string_view key, const Cells& cells) {
    if (owned_.size() >= kSlots / 2) return false;
    auto entry = std::make_unique<Entry>(Entry{hash, std::string(key), cells});
    std::size_t slot = hash;
    while (slots_[slot & (kSlots - 1)].load(std::memory_order_relaxed) != nullptr) ++slot;
    slots_[slot & (kSlots - 1)].store(entry.get(), std::memory_order_release);
    owned_.push_back(std::move(entry));
    return true;
  }

 private:
  static constexpr std::size_t kSlots = 1024;
  std::array<std::atomic<const Entry*>, kSlots> slots_{};
  std::vector<std::unique_ptr<Entry>> owned_;
};

struct StreamCells {
  Series* sent;
  Series* received;
  Series* overflow;  // non-null when the stream id was folded into "other"
};
struct DataTypeCells {
  Series* ratio;
  Series* original;
  Series* compressed;
  Series* overflow;
};

}  // namespace dwcp::model_detail
