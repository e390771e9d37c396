// Turns the BPF program's raw events (include/dwcp_observer/events.h) into the metrics model's
// typed events (include/dwcp_observer/model.h) and into requests to read DWCP's own figures from
// the target (a session or an encoder seen, a session changed or closed, a stream's final
// figures). What each value slot means is fixed by the contract; what each event kind means for
// DWCP's metrics is decided here, once. Pure: no system call; the requests are carried out by
// agent/target_reads.h, in order with the events.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "agent/baseline_tracker.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/model.h"

namespace dwcp::agent {

// One stream of a session's table, as read (by BPF at Close/AdjustStreams, or by the tracker).
struct StreamFigures {
  std::uint64_t ptr = 0;  // the *StreamConn: what identifies the stream while it lives
  std::int64_t id = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::optional<std::int32_t> reconnects;  // StreamConn.reconnects, where the layout has it
};

// Requests to the target's readers (agent/stream_reader.h, agent/encoder_reader.h).
namespace read {
// A probe carried this session (its receiver): adopt it the first time (SessionTracker::seen).
struct SessionSeen {
  std::uint64_t session = 0;
  bool reopen = true;         // a closed session seen again is a new one (not for Close's own events)
  bool by_start = false;      // seen through Start's own event, which alone does not start it
  bool born_watched = false;  // Start, or its first createStream: its streams begin under our eyes
};
struct SessionStarted {  // Start returned nil
  std::uint64_t session = 0;
};
struct SessionChanged {  // AdjustStreams or reconnectStream returned: read the session now
  std::uint64_t session = 0;
};
struct SessionEnded {  // Close returned: read no more
  std::uint64_t session = 0;
};
struct StreamFinal {  // one stream's figures as Close/AdjustStreams returned, read in BPF
  std::uint64_t session = 0;
  StreamFigures figures;
  std::uint64_t table = 0, table_length = 0;
  bool read_failed = false;
};
struct EncoderSeen {  // a probe carried this DeltaEncoder
  std::uint64_t encoder = 0;
};
}  // namespace read

// What decoding one raw event gives: model events and read requests, in the order they apply.
using Decoded = std::variant<Event, read::SessionSeen, read::SessionStarted, read::SessionChanged, read::SessionEnded,
                             read::StreamFinal, read::EncoderSeen>;

// What the target's readers can give, fixed at attach.
struct DecoderConfig {
  // The WAN link DWCP transfers over, in bits per second (0: unknown). With it, a memory
  // migration's speedup is derived from its duration (Go passes DWCP's own float speedup in XMM
  // registers, which BPF cannot read).
  double link_capacity_bps = 0;
  // AMST sessions are tracked (requests for them are emitted); without, sessions still key
  // streams, and per-stream bytes come from chunk probes only.
  bool sessions = false;
  // DWCP's per-stream counters are read: chunk probes then count calls and errors, never bytes.
  bool stream_counters = false;
  // DeltaEncoder totals are read: operations, hits and baselines are DWCP's own, and Encode
  // events add sizes and ratios only.
  bool encoder_totals = false;
};

// The contract's name of an event kind, "unknown" outside it (a label is never empty).
const char* event_kind_name(std::uint16_t kind);

// One decoder per target process: it keeps the little state that spans calls (live baselines).
class EventDecoder {
 public:
  explicit EventDecoder(DecoderConfig config = {}) : config_(config) {}

  // Appends what `raw` stands for to `out`: model events and read requests, in order.
  void decode(const dwcp_event& raw, std::vector<Decoded>* out);

 private:
  void decode_amst(const dwcp_event& raw, std::vector<Decoded>* out);

  DecoderConfig config_;
  BaselineTracker baselines_;
};

}  // namespace dwcp::agent
