#include "agent/decoder.h"

// A kind of dwcp_event_kind without its case in decode() is a build error, not a silent drop.
#pragma GCC diagnostic error "-Wswitch"

#include <cstring>
#include <string>

namespace dwcp::agent {
namespace {

std::string str_slot(const dwcp_event& e, int slot) {
  return std::string(e.str[slot], strnlen(e.str[slot], DWCP_STR_LEN));
}

std::uint64_t non_negative(std::int64_t v) { return v > 0 ? static_cast<std::uint64_t>(v) : 0; }

// StreamError's id for a failure that belongs to no single stream: Send and Receive spread a
// transfer over every stream of the AMST session. The model counts an empty id as an invalid
// event, which a real, well-formed failure is not.
constexpr const char* kSessionWide = "session";

}  // namespace

const char* event_kind_name(std::uint16_t kind) {
  const char* name = contract::event_kind_name(kind);
  return *name ? name : "unknown";
}

void EventDecoder::decode(const dwcp_event& e, std::vector<Decoded>* out) {
  // Without an exit (entry-only probe) there is no error result and no duration: the call is
  // taken as successful and no latency is recorded.
  const bool paired = e.flags & DWCP_EVF_PAIRED;
  const bool failed = paired && e.val[DWCP_SLOT_ERR] != 0;
  const double seconds = static_cast<double>(e.duration_ns) / 1e9;
  const std::string id = std::to_string(e.val[DWCP_SLOT_ID]);

  // Every kind of the contract has its case (no default: -Werror=switch below makes a kind added
  // to events.h without one a build error); values outside the enum decode to nothing.
  switch (static_cast<dwcp_event_kind>(e.kind)) {
    case DWCP_EV_SESSION_START:
    case DWCP_EV_STREAM_OPEN:
    case DWCP_EV_SEND:
    case DWCP_EV_SEND_CHUNK:
    case DWCP_EV_RECEIVE:
    case DWCP_EV_RECEIVE_CHUNK:
    case DWCP_EV_SESSION_CLOSE:
    case DWCP_EV_RECONNECT:
    case DWCP_EV_STREAM_FINAL:
    case DWCP_EV_ADJUST_STREAMS:
      decode_amst(e, out);
      break;
    case DWCP_EV_COMPRESS_MEMORY:
    case DWCP_EV_COMPRESS_DISK: {
      if (!paired) break;
      // As HDE counts: its original bytes take len(input) of every call, also one that then
      // fails (an empty input fails first and is 0 here); the compressed bytes take the result
      // without its 16-byte packet header (the profile subtracts it), on success only.
      CompressionDone done;
      done.data_type = e.kind == DWCP_EV_COMPRESS_MEMORY ? "vm_memory" : "vm_disk";
      done.delta_known = false;  // HDE's compressors report no delta hit; Encode does
      done.success = !failed;
      done.original_bytes = non_negative(e.val[DWCP_SLOT_BYTES]);
      if (!failed) done.compressed_bytes = non_negative(e.val[DWCP_SLOT_RESULT_BYTES]);
      out->push_back(done);
      break;
    }
    case DWCP_EV_ENCODE: {
      if (config_.encoder_totals)
        out->push_back(read::EncoderSeen{static_cast<std::uint64_t>(e.val[DWCP_SLOT_OBJECT])});
      if (!paired) break;
      CompressionDone done;
      done.data_type = "delta";
      done.operation = "encode";
      done.success = !failed;
      if (failed) {
        out->push_back(done);
        break;
      }
      // DWCP's DeltaEncoder counts a delta (hit) and a baseline created or refreshed (miss) in
      // totalEncoded; an Encode that skipped compression (input under 512 bytes, or ratios too
      // low) hands back the input slice itself with IsDelta=false, CompressedSize ==
      // OriginalSize, and counts nowhere. Only the data pointers tell it from a baseline.
      const std::int64_t original = e.val[DWCP_SLOT_BYTES];  // OriginalSize is len(data) on every path
      done.delta_hit = e.val[DWCP_SLOT_RESULT_FLAG] != 0;
      const bool skipped = !done.delta_hit && e.val[DWCP_SLOT_RESULT_AUX] == e.val[DWCP_SLOT_ID] &&
                           e.val[DWCP_SLOT_RESULT_BYTES] == original;
      if (skipped) break;
      done.original_bytes = non_negative(original);
      done.compressed_bytes = non_negative(e.val[DWCP_SLOT_RESULT_BYTES]);
      // Where the encoder's own totals are read, they count the operation, hit and baseline.
      done.operation_counted = config_.encoder_totals;
      out->push_back(done);
      if (!done.delta_hit && !config_.encoder_totals) {
        baselines_.stored(str_slot(e, DWCP_STR_NAME), e.ts_ns);
        out->push_back(BaselineCount{"delta", baselines_.count()});
      }
      break;
    }
    case DWCP_EV_DECODE:
      if (config_.encoder_totals)
        out->push_back(read::EncoderSeen{static_cast<std::uint64_t>(e.val[DWCP_SLOT_OBJECT])});
      if (paired) out->push_back(DecompressionDone{!failed, "decode"});
      break;
    case DWCP_EV_DECOMPRESS:
      if (paired) out->push_back(DecompressionDone{!failed, "decompress"});
      break;
    case DWCP_EV_PRUNE:
      if (config_.encoder_totals) {
        out->push_back(read::EncoderSeen{static_cast<std::uint64_t>(e.val[DWCP_SLOT_OBJECT])});
        break;  // the baselines are read from the encoder
      }
      if (!paired) break;
      baselines_.pruned(non_negative(e.val[DWCP_SLOT_RESULT_AUX]));
      out->push_back(BaselineCount{"delta", baselines_.count()});
      break;
    case DWCP_EV_MIGRATE_MEMORY:
    case DWCP_EV_MIGRATE_DISK: {
      if (!paired) break;
      if (failed) {
        // Named after the VM whose migration failed (the profile reads vmID into the name slot).
        out->push_back(StreamError{str_slot(e, DWCP_STR_NAME),
                                   e.kind == DWCP_EV_MIGRATE_MEMORY ? "migration_memory" : "migration_disk"});
        break;
      }
      MigrationCompleted done;
      done.migration_id = str_slot(e, DWCP_STR_NAME);
      done.dest_node = str_slot(e, DWCP_STR_PEER);
      done.dwcp_enabled = true;  // the call went through DWCP's adapter
      done.seconds = seconds;
      out->push_back(done);
      // Speedup against sending the VM's memory raw at line rate: (bytes at link capacity) /
      // (time DWCP took). Above 1 when compression and parallel streams beat the line rate.
      // Disk migrations pass a map of blocks whose total size BPF cannot sum: no speedup.
      if (e.kind == DWCP_EV_MIGRATE_MEMORY && config_.link_capacity_bps > 0 && seconds > 0) {
        const double line_rate_seconds = non_negative(e.val[DWCP_SLOT_BYTES]) * 8.0 / config_.link_capacity_bps;
        out->push_back(SpeedupCalculated{"memory", line_rate_seconds / seconds});
      }
      break;
    }
    case DWCP_EV_FED_SYNC:
    case DWCP_EV_FED_BASELINE: {
      if (!paired) break;
      const bool state = e.kind == DWCP_EV_FED_SYNC;
      if (failed) {
        // Named after the source cluster or the baseline id (the name slot) that failed to sync.
        out->push_back(StreamError{str_slot(e, DWCP_STR_NAME), state ? "federation_sync" : "federation_baseline"});
        break;
      }
      FederationSync sync;
      sync.remote_cluster = state ? str_slot(e, DWCP_STR_PEER) : "all";
      sync.sync_type = state ? "state" : "baseline";
      sync.seconds = seconds;
      out->push_back(sync);
      break;
    }
    case DWCP_EV_NONE:
    case DWCP_EV_KIND_COUNT:
      break;
  }
}

// AMST: a session (the *MultiStreamTCP receiver, DWCP_SLOT_SESSION; 0 when the profile does not
// read it) keys its streams; stream ids repeat across sessions.
void EventDecoder::decode_amst(const dwcp_event& e, std::vector<Decoded>* out) {
  const bool paired = e.flags & DWCP_EVF_PAIRED;
  const bool failed = paired && e.val[DWCP_SLOT_ERR] != 0;
  const double seconds = static_cast<double>(e.duration_ns) / 1e9;
  const std::string id = std::to_string(e.val[DWCP_SLOT_ID]);
  const auto session = static_cast<std::uint64_t>(e.val[DWCP_SLOT_SESSION]);
  // Bytes come from DWCP's own per-stream counters when the tracker can read them; chunk probes
  // (the opt-in debug profile) then count calls and errors only, never the bytes twice.
  const bool counters = config_.stream_counters;
  const bool sessions = config_.sessions && session != 0;
  // First sight of a session adopts the streams it already holds. The last events of a Close
  // (its final figures, its return) must not re-open a session the same Close just closed.
  if (sessions)
    out->push_back(read::SessionSeen{
        session, e.kind != DWCP_EV_STREAM_FINAL && e.kind != DWCP_EV_SESSION_CLOSE, e.kind == DWCP_EV_SESSION_START,
        e.kind == DWCP_EV_SESSION_START || (e.kind == DWCP_EV_STREAM_OPEN && e.val[DWCP_SLOT_ID] == 0)});

  switch (e.kind) {
    case DWCP_EV_SESSION_START:
      // DWCP counts a session from a Start that returned nil (one that failed holds no stream).
      if (sessions && paired && !failed) out->push_back(read::SessionStarted{session});
      break;
    case DWCP_EV_ADJUST_STREAMS:
      // The streams it closed sent their finals ahead of this event; the table holds the rest.
      if (sessions) out->push_back(read::SessionChanged{session});
      break;
    case DWCP_EV_STREAM_OPEN:
      out->push_back(StreamOpened{id, !failed, session});
      break;
    case DWCP_EV_SESSION_CLOSE:
      // Only this session's streams end; a session that never started holds none.
      out->push_back(Event{SessionClosed{session}});
      if (sessions) out->push_back(read::SessionEnded{session});
      break;
    case DWCP_EV_STREAM_FINAL:
      if (sessions) {
        read::StreamFinal final;
        final.session = session;
        final.figures.ptr = static_cast<std::uint64_t>(e.val[DWCP_SLOT_FINAL_STREAM_PTR]);
        final.figures.id = e.val[DWCP_SLOT_FINAL_STREAM_ID];
        final.figures.sent = static_cast<std::uint64_t>(e.val[DWCP_SLOT_FINAL_SENT]);
        final.figures.received = static_cast<std::uint64_t>(e.val[DWCP_SLOT_FINAL_RECV]);
        final.table = static_cast<std::uint64_t>(e.val[DWCP_SLOT_FINAL_TABLE_PTR]);
        final.table_length = static_cast<std::uint64_t>(e.val[DWCP_SLOT_FINAL_TABLE_LEN]);
        final.read_failed = e.flags & DWCP_EVF_READ_FAILED;
        out->push_back(final);
      }
      break;
    case DWCP_EV_SEND:
      if (paired) out->push_back(Latency{"send", seconds});
      if (failed) out->push_back(StreamError{kSessionWide, "send"});
      break;
    case DWCP_EV_SEND_CHUNK:
      // The profile adds the 8-byte chunk header: bytes on the wire, as the catalogue counts them.
      if (failed)
        out->push_back(StreamError{id, "send_chunk"});
      else if (!counters)
        out->push_back(StreamBytes{id, non_negative(e.val[DWCP_SLOT_BYTES]), 0});
      break;
    case DWCP_EV_RECEIVE:
      if (paired) out->push_back(Latency{"receive", seconds});
      if (failed) out->push_back(StreamError{kSessionWide, "receive"});
      break;
    case DWCP_EV_RECEIVE_CHUNK:
      // A receiveChunk error is how a stream's reader learns that the peer closed it (io.EOF on
      // every clean close); BPF sees only that the error is non-nil, not which one. Counting it
      // would make every closed stream an AMST error: genuine receive failures reach Receive's
      // own error result (error_type "receive") instead.
      if (paired && !failed && !counters)
        out->push_back(StreamBytes{id, 0, non_negative(e.val[DWCP_SLOT_RESULT_BYTES])});
      break;
    case DWCP_EV_RECONNECT:
      // DWCP's health check counts a reconnect that fails as its error "reconnect_failed"; one
      // that succeeds is no error (StreamConn.reconnects counts it, read with the stream table).
      // Without an exit (entry-only profile) success is not known: nothing is counted. The stream
      // has a new connection now: read the session at once, so that the consistency check sees
      // the new socket even when Close follows before the next timed read.
      if (failed) out->push_back(StreamError{id, "reconnect_failed"});
      if (sessions && paired) out->push_back(read::SessionChanged{session});
      break;
    default:
      break;
  }
}

}  // namespace dwcp::agent
