// Turns the BPF program's raw events (include/dwcp_observer/events.h) into the metrics model's
// typed events (include/dwcp_observer/model.h). What each value slot means is fixed by the
// contract; what each event kind means for DWCP's metrics is decided here, once.
#pragma once

#include <cstdint>
#include <vector>

#include "agent/baseline_tracker.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/model.h"

namespace dwcp::agent {

class EncoderTracker;
class SessionTracker;

// The contract's name of an event kind, "unknown" outside it (a label is never empty).
const char* event_kind_name(std::uint16_t kind);

// One decoder per target process: it keeps the little state that spans calls (live baselines).
class EventDecoder {
 public:
  // link_capacity_bps: the WAN link DWCP transfers over, in bits per second (0: unknown). With it,
  // a memory migration's speedup is derived from its duration (Go passes DWCP's own float speedup
  // in XMM registers, which BPF cannot read).
  explicit EventDecoder(double link_capacity_bps = 0) : link_capacity_bps_(link_capacity_bps) {}

  // The target's AMST sessions (agent/stream_reader.h): learns each session from the probes that
  // carry it and reads its per-stream counters. Without one, sessions still key streams, and
  // per-stream bytes come from chunk probes only.
  void set_sessions(SessionTracker* sessions) { sessions_ = sessions; }
  // The target's DeltaEncoders (agent/encoder_reader.h): with one, operations, hits and baselines
  // are DWCP's own totals and Encode events add sizes and ratios only.
  void set_encoders(EncoderTracker* encoders) { encoders_ = encoders; }

  // Appends the model events `raw` stands for to `out`.
  void decode(const dwcp_event& raw, std::vector<Event>* out);

 private:
  void decode_amst(const dwcp_event& raw, std::vector<Event>* out);

  double link_capacity_bps_ = 0;
  SessionTracker* sessions_ = nullptr;
  EncoderTracker* encoders_ = nullptr;
  BaselineTracker baselines_;
};

}  // namespace dwcp::agent
