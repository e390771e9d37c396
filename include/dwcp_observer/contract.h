// The names and indexing rules of the BPF <-> agent contract (dwcp_observer/events.h), defined
// once. Every userspace name of an event kind, a value slot or a drop reason comes from the
// tables below: the profile parses with them, the decoder and the observer metrics label with
// them. tests/contract/check_names.py fails when a second definition of one of these names
// appears anywhere else under userspace/, include/ or bpf/.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

#include "dwcp_observer/events.h"

namespace dwcp::contract {

// Indexed by enum dwcp_event_kind: the profile's `"event"` value and the `kind` label of
// dwcp_observer_events_total.
inline constexpr const char* kEventKindNames[] = {
    "",                 // DWCP_EV_NONE
    "session_start",    // DWCP_EV_SESSION_START
    "stream_open",      // DWCP_EV_STREAM_OPEN
    "send",             // DWCP_EV_SEND
    "send_chunk",       // DWCP_EV_SEND_CHUNK
    "receive",          // DWCP_EV_RECEIVE
    "receive_chunk",    // DWCP_EV_RECEIVE_CHUNK
    "session_close",    // DWCP_EV_SESSION_CLOSE
    "reconnect",        // DWCP_EV_RECONNECT
    "encode",           // DWCP_EV_ENCODE
    "decode",           // DWCP_EV_DECODE
    "prune",            // DWCP_EV_PRUNE
    "compress_memory",  // DWCP_EV_COMPRESS_MEMORY
    "compress_disk",    // DWCP_EV_COMPRESS_DISK
    "decompress",       // DWCP_EV_DECOMPRESS
    "migrate_memory",   // DWCP_EV_MIGRATE_MEMORY
    "migrate_disk",     // DWCP_EV_MIGRATE_DISK
    "fed_sync",         // DWCP_EV_FED_SYNC
    "fed_baseline",     // DWCP_EV_FED_BASELINE
    "stream_final",     // DWCP_EV_STREAM_FINAL: emitted by the BPF program at session_close/adjust_streams
    "adjust_streams",   // DWCP_EV_ADJUST_STREAMS
};

// Indexed by enum dwcp_drop_reason: the `reason` label of dwcp_observer_events_lost_total.
inline constexpr const char* kDropReasonNames[] = {
    "ringbuf_full",    // DWCP_DROP_RINGBUF_FULL
    "map_full",        // DWCP_DROP_MAP_FULL: an update of the (LRU) in-flight or socket map failed
    "read_failed",     // DWCP_DROP_READ_FAILED
    "unmatched_exit",  // DWCP_DROP_UNMATCHED_EXIT: a RET without its entry; also an entry evicted
                       // from the LRU in-flight map (over 16384 calls in flight)
};

// Indexed by enum dwcp_slot: the keys a profile's "entry"/"exit" objects use for each value slot.
inline constexpr const char* kSlotNames[] = {
    "id",            // DWCP_SLOT_ID
    "bytes",         // DWCP_SLOT_BYTES
    "count",         // DWCP_SLOT_COUNT
    "aux",           // DWCP_SLOT_ENTRY_AUX
    "err",           // DWCP_SLOT_ERR
    "result_bytes",  // DWCP_SLOT_RESULT_BYTES
    "result_aux",    // DWCP_SLOT_RESULT_AUX
    "result_flag",   // DWCP_SLOT_RESULT_FLAG
};
// The entry slot DWCP_SLOT_SESSION is also reachable by this name (AMST's *MultiStreamTCP), and
// as DWCP_SLOT_OBJECT by the second (a DeltaEncoder probe's receiver).
inline constexpr const char* kSessionSlotName = "session";
inline constexpr const char* kObjectSlotName = "object";

// Indexed by string slot (DWCP_STR_NAME, DWCP_STR_PEER).
inline constexpr const char* kStringSlotNames[] = {"name", "peer"};

static_assert(std::size(kEventKindNames) == DWCP_EV_KIND_COUNT, "one name per dwcp_event_kind");
static_assert(std::size(kDropReasonNames) == DWCP_DROP_COUNT, "one name per dwcp_drop_reason");
static_assert(std::size(kSlotNames) == DWCP_SLOT_COUNT_ALL, "one name per dwcp_slot");
static_assert(std::size(kStringSlotNames) == DWCP_STR_SLOTS, "one name per string slot");
static_assert(DWCP_SLOT_SESSION < DWCP_SLOT_ERR, "the session is an entry value");

// Spec indexing in the probe_specs map: a probe's entry spec is 2*probe_id, its exit (every RET
// site of the function) 2*probe_id+1. The same index is the uprobe's BPF cookie.
constexpr std::uint32_t entry_spec_index(std::uint32_t probe_id) { return 2 * probe_id; }
constexpr std::uint32_t exit_spec_index(std::uint32_t probe_id) { return 2 * probe_id + 1; }
static_assert(exit_spec_index(DWCP_MAX_PROBES - 1) < DWCP_MAX_SPECS, "every probe's specs fit the map");

// "" for DWCP_EV_NONE and out-of-range kinds.
constexpr const char* event_kind_name(std::uint32_t kind) {
  return kind > DWCP_EV_NONE && kind < DWCP_EV_KIND_COUNT ? kEventKindNames[kind] : "";
}

// "send_chunk" -> DWCP_EV_SEND_CHUNK; nullopt for "" and unknown names.
constexpr std::optional<dwcp_event_kind> event_kind_from_name(std::string_view name) {
  for (std::uint32_t kind = DWCP_EV_NONE + 1; kind < DWCP_EV_KIND_COUNT; ++kind) {
    if (name == kEventKindNames[kind]) return static_cast<dwcp_event_kind>(kind);
  }
  return std::nullopt;
}

// "unknown" for out-of-range reasons.
constexpr const char* drop_reason_name(std::uint32_t reason) {
  return reason < DWCP_DROP_COUNT ? kDropReasonNames[reason] : "unknown";
}

static_assert(event_kind_from_name("stream_final") == DWCP_EV_STREAM_FINAL, "names round-trip");

}  // namespace dwcp::contract
