// DWCP's DeltaEncoder keeps its own totals (totalEncoded, totalDecoded, deltaHits, and
// baselineStates whose length is its baseline count: what its GetMetrics reports). The agent reads
// them from the target's memory instead of recounting Encode events, so that the figures are
// DWCP's own wherever our model of Encode would differ, and include what the encoder counted
// before the attach. Encoders are learnt from the probes that carry one as receiver (Encode,
// Decode, PruneOldBaselines: DWCP_SLOT_OBJECT) and read on the same interval as the sessions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "agent/stream_reader.h"
#include "dwcp_observer/model.h"
#include "dwcp_observer/result.h"
#include "log/log.h"
#include "profile/profile.h"

namespace dwcp::agent {

struct EncoderFigures {
  std::uint64_t encoded = 0;
  std::uint64_t decoded = 0;
  std::uint64_t hits = 0;
  std::int64_t baselines = 0;  // len(baselineStates)
};

// Reads one encoder's totals; every value is checked before it is believed (the target is
// untrusted and may have freed the encoder). The error says what was wrong.
Result<EncoderFigures> read_encoder(MemoryReader& memory, const profile::EncoderLayout& layout, std::uint64_t encoder);

// The encoders of one target process. Used from the agent's consumer thread only.
class EncoderTracker {
 public:
  EncoderTracker(std::unique_ptr<MemoryReader> memory, profile::EncoderLayout layout, log::Logger log);

  // A probe carried `encoder` as its receiver: read it at once the first time (its totals so far
  // count: DWCP's figures include what it did before the attach).
  void seen(std::uint64_t encoder, std::vector<Event>* out);
  // Reads every known encoder; appends EncoderTotals (growth) and, when it changed, the summed
  // BaselineCount{"delta"}.
  void refresh(std::vector<Event>* out);

  std::size_t tracked() const { return encoders_.size(); }

 private:
  struct Known {
    EncoderFigures last;
  };
  void take(std::uint64_t address, const EncoderFigures& now, std::vector<Event>* out);
  void publish_baselines(std::vector<Event>* out);

  std::unique_ptr<MemoryReader> memory_;
  profile::EncoderLayout layout_;
  log::Logger log_;
  bool logged_ = false;
  std::map<std::uint64_t, Known> encoders_;
  std::int64_t published_baselines_ = -1;
};

}  // namespace dwcp::agent
