#include "agent/encoder_reader.h"
#include "dwcp_observer/text.h"

#include <cstdio>

namespace dwcp::agent {
namespace {

constexpr std::uint64_t kUserTop = std::uint64_t{1} << 47;
// Bounds of what a sane encoder holds; beyond them the words read are not an encoder's.
constexpr std::uint64_t kMaxBaselines = std::uint64_t{1} << 30;
constexpr std::size_t kMaxEncoders = 256;
// Totals no encoder reaches (2^48 encodes: nine years at a million a second) and growth no read
// interval holds (2^32 encodes in one): the words are no longer an encoder's (freed and reused
// memory read a pointer as totalEncoded once: 47,950,902,020,231 encodes in 200 ms).
constexpr std::uint64_t kMaxTotal = std::uint64_t{1} << 48;
constexpr std::uint64_t kMaxEncodesPerRead = std::uint64_t{1} << 32;

bool plausible_pointer(std::uint64_t p) { return p != 0 && p % 8 == 0 && p < kUserTop; }

// More hits than encodes: a read that fell between the two increments of one Encode.
bool torn(const EncoderFigures& f) { return f.hits > f.encoded; }

}  // namespace

Result<EncoderFigures> read_encoder(MemoryReader& memory, const profile::EncoderLayout& layout, std::uint64_t encoder) {
  if (!plausible_pointer(encoder)) return Error{"encoder pointer " + hex(encoder) + " is not a user address"};
  EncoderFigures out;
  std::uint64_t map = 0;
  if (Result<void> read = memory.read({{encoder + layout.baselines_off, &map, 8},
                                       {encoder + layout.encoded_off, &out.encoded, 8},
                                       {encoder + layout.decoded_off, &out.decoded, 8},
                                       {encoder + layout.hits_off, &out.hits, 8}});
      !read)
    return read.failure();
  // len(map): the first word of the map header, in Go's old maps (hmap.count) and its Swiss
  // tables (Map.used, Go 1.24+) alike. A nil map holds nothing.
  std::uint64_t length = 0;
  if (map != 0) {
    if (!plausible_pointer(map)) return Error{"baselineStates " + hex(map) + " is not a map"};
    if (Result<void> read = memory.read({{map, &length, 8}}); !read) return read.failure();
  }
  if (length > kMaxBaselines || out.encoded > kMaxTotal || out.decoded > kMaxTotal || out.hits > kMaxTotal)
    return Error{"implausible encoder (" + std::to_string(length) + " baselines, " + std::to_string(out.encoded) +
                 " encoded): wrong layout, or the encoder was freed"};
  out.baselines = static_cast<std::int64_t>(length);
  return out;
}

EncoderTracker::EncoderTracker(std::unique_ptr<MemoryReader> memory, profile::EncoderLayout layout, log::Logger log)
    : memory_(std::move(memory)), layout_(std::move(layout)), log_(std::move(log)) {}

void EncoderTracker::seen(std::uint64_t address, std::vector<Event>* out) {
  if (address == 0 || encoders_.count(address) != 0) return;
  if (encoders_.size() >= kMaxEncoders) {
    if (!logged_) log_.warn("tracking " + std::to_string(kMaxEncoders) + " delta encoders: newer ones are not read");
    logged_ = true;
    return;
  }
  Result<EncoderFigures> read = read_encoder(*memory_, layout_, address);
  if (!read) {
    if (!logged_)
      log_.warn("cannot read delta encoder " + hex(address) + " (" + read.error() + "): its totals are not counted");
    logged_ = true;
    return;
  }
  EncoderFigures now = *read;
  if (torn(now)) now.encoded = now.hits;  // at most one in flight: counted whole at the next read
  take(address, now, out);
  publish_baselines(out);
}

void EncoderTracker::take(std::uint64_t address, const EncoderFigures& now, std::vector<Event>* out) {
  Known& known = encoders_[address];
  const EncoderTotals growth{now.encoded - known.last.encoded, now.hits - known.last.hits};
  known.last = now;
  if (growth.encoded != 0 || growth.delta_hits != 0) out->push_back(growth);
}

void EncoderTracker::refresh(std::vector<Event>* out) {
  for (auto it = encoders_.begin(); it != encoders_.end();) {
    // One that cannot be read any more was freed: forgotten, with its baselines; what it counted
    // stays counted.
    const Result<EncoderFigures> read = read_encoder(*memory_, layout_, it->first);
    if (!read) {
      it = encoders_.erase(it);
      continue;
    }
    const EncoderFigures& now = *read;
    // DWCP updates its totals under its own lock, which the agent does not take: a read between
    // `totalEncoded++` and `deltaHits++` (or torn the other way) is skipped, the next one is whole.
    if (torn(now)) {
      ++it;
      continue;
    }
    // Totals only grow: lower ones are a new encoder at a freed one's address, counted from zero.
    const EncoderFigures& last = it->second.last;
    if (now.encoded < last.encoded || now.hits < last.hits) it->second.last = EncoderFigures{};
    // Growth no encoder makes in one interval: freed memory reused by something else. Forgotten
    // like a freed encoder (what it counted stays counted), never charged.
    if (now.encoded - it->second.last.encoded > kMaxEncodesPerRead ||
        now.hits - it->second.last.hits > kMaxEncodesPerRead) {
      if (!logged_)
        log_.warn("delta encoder " + hex(it->first) + " grew by " + std::to_string(now.encoded - last.encoded) +
                  " encodes in one read: taken for freed memory, no longer read");
      logged_ = true;
      it = encoders_.erase(it);
      continue;
    }
    take(it->first, now, out);
    ++it;
  }
  publish_baselines(out);
}

void EncoderTracker::publish_baselines(std::vector<Event>* out) {
  std::int64_t sum = 0;
  for (const auto& [address, known] : encoders_) sum += known.last.baselines;
  if (sum == published_baselines_) return;
  published_baselines_ = sum;
  out->push_back(BaselineCount{"delta", sum});
}

}  // namespace dwcp::agent
