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

// One row per event kind, indexed by enum dwcp_event_kind: everything the agent knows of a kind
// outside the decoder (whose switch tests/agent/decoder_kinds_test.cpp holds to this table).
//   name:          the profile's `"event"` value and the `kind` label of dwcp_observer_events_total
//   feature:       the dwcp_system_config_enabled{feature} a probe of this kind belongs to by default
//   per_operation: hit once per Send/Receive/Encode/... call: the probe budget may sample it; the
//                  others (lifecycle, rare administrative acts) carry counts and are never sampled
//   per_chunk:     hit once per AMST chunk: refused where per-chunk probes are not vouched for
//                  (kernel_features.h)
struct EventKindInfo {
  const char* name;
  const char* feature;
  bool per_operation;
  bool per_chunk;
};
inline constexpr EventKindInfo kEventKinds[] = {
    {"", "", false, false},                         // DWCP_EV_NONE
    {"session_start", "amst", false, false},        // DWCP_EV_SESSION_START
    {"stream_open", "amst", false, false},          // DWCP_EV_STREAM_OPEN
    {"send", "amst", true, false},                  // DWCP_EV_SEND
    {"send_chunk", "amst", true, true},             // DWCP_EV_SEND_CHUNK
    {"receive", "amst", true, false},               // DWCP_EV_RECEIVE
    {"receive_chunk", "amst", true, true},          // DWCP_EV_RECEIVE_CHUNK
    {"session_close", "amst", false, false},        // DWCP_EV_SESSION_CLOSE
    {"reconnect", "amst", false, false},            // DWCP_EV_RECONNECT
    {"encode", "delta_encoding", true, false},      // DWCP_EV_ENCODE
    {"decode", "delta_encoding", true, false},      // DWCP_EV_DECODE
    {"prune", "delta_encoding", false, false},      // DWCP_EV_PRUNE
    {"compress_memory", "hde", true, false},        // DWCP_EV_COMPRESS_MEMORY
    {"compress_disk", "hde", true, false},          // DWCP_EV_COMPRESS_DISK
    {"decompress", "hde", true, false},             // DWCP_EV_DECOMPRESS
    {"migrate_memory", "migration", false, false},  // DWCP_EV_MIGRATE_MEMORY
    {"migrate_disk", "migration", false, false},    // DWCP_EV_MIGRATE_DISK
    {"fed_sync", "federation", false, false},       // DWCP_EV_FED_SYNC
    {"fed_baseline", "federation", false, false},   // DWCP_EV_FED_BASELINE
    {"stream_final", "amst", false, false},         // DWCP_EV_STREAM_FINAL: the BPF program's own
    {"adjust_streams", "amst", false, false},       // DWCP_EV_ADJUST_STREAMS
};

// Indexed by enum dwcp_drop_reason: the `reason` label of dwcp_observer_events_lost_total.
inline constexpr const char* kDropReasonNames[] = {
    "ringbuf_full",    // DWCP_DROP_RINGBUF_FULL
    "map_full",        // DWCP_DROP_MAP_FULL: an update of the (LRU) in-flight or socket map failed
    "read_failed",     // DWCP_DROP_READ_FAILED
    "unmatched_exit",  // DWCP_DROP_UNMATCHED_EXIT: a RET without its entry; also an entry evicted
                       // from the LRU in-flight map (over 16384 calls in flight)
    "scratch_full",    // DWCP_DROP_SCRATCH_FULL: more uprobe instances nested on one CPU than it has
                       // scratch slots (preempted ones), counted on the probe that hit
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

static_assert(std::size(kEventKinds) == DWCP_EV_KIND_COUNT, "one row per dwcp_event_kind");
static_assert(std::size(kDropReasonNames) == DWCP_DROP_COUNT, "one name per dwcp_drop_reason");
static_assert(std::size(kSlotNames) == DWCP_SLOT_COUNT_ALL, "one name per dwcp_slot");
static_assert(std::size(kStringSlotNames) == DWCP_STR_SLOTS, "one name per string slot");
static_assert(DWCP_SLOT_SESSION < DWCP_SLOT_ERR, "the session is an entry value");

// Spec indexing in the probe_specs map: a probe's entry spec is 2*probe_id, its exit (every RET
// site of the function) 2*probe_id+1. The same index is the uprobe's BPF cookie.
constexpr std::uint32_t entry_spec_index(std::uint32_t probe_id) { return 2 * probe_id; }
constexpr std::uint32_t exit_spec_index(std::uint32_t probe_id) { return 2 * probe_id + 1; }
constexpr std::uint32_t probe_of_spec(std::uint32_t spec_index) { return spec_index / 2; }  // either of the two
static_assert(exit_spec_index(DWCP_MAX_PROBES - 1) < DWCP_MAX_SPECS, "every probe's specs fit the map");

// "" for DWCP_EV_NONE and out-of-range kinds.
constexpr const char* event_kind_name(std::uint32_t kind) {
  return kind > DWCP_EV_NONE && kind < DWCP_EV_KIND_COUNT ? kEventKinds[kind].name : "";
}

// The row of a kind; DWCP_EV_NONE's (empty, nothing allowed) for out-of-range kinds.
constexpr const EventKindInfo& event_kind_info(std::uint32_t kind) {
  return kind < DWCP_EV_KIND_COUNT ? kEventKinds[kind] : kEventKinds[DWCP_EV_NONE];
}

// "send_chunk" -> DWCP_EV_SEND_CHUNK; nullopt for "" and unknown names.
constexpr std::optional<dwcp_event_kind> event_kind_from_name(std::string_view name) {
  for (std::uint32_t kind = DWCP_EV_NONE + 1; kind < DWCP_EV_KIND_COUNT; ++kind) {
    if (name == kEventKinds[kind].name) return static_cast<dwcp_event_kind>(kind);
  }
  return std::nullopt;
}

// "unknown" for out-of-range reasons.
constexpr const char* drop_reason_name(std::uint32_t reason) {
  return reason < DWCP_DROP_COUNT ? kDropReasonNames[reason] : "unknown";
}

static_assert(event_kind_from_name("stream_final") == DWCP_EV_STREAM_FINAL, "names round-trip");

}  // namespace dwcp::contract
