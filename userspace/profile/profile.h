// Probe profiles: a declarative JSON file (configs/probes/*.json, format in configs/probes/README.md)
// naming the Go functions to probe, their signatures, and which argument/result goes into which
// event slot. Loading validates everything and compiles each probe into the ready-to-load
// `dwcp_probe_spec` structs of include/dwcp_observer/events.h, so nothing downstream has to
// know Go's calling convention.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/result.h"
#include "goelf/arch.h"
#include "profile/go_types.h"

namespace dwcp::profile {

using dwcp::Error;
using dwcp::Result;
using goelf::Arch;

constexpr int kProfileSchemaVersion = 1;
// Probe ids 0 .. DWCP_PROBE_ID_SOCKET-1: the last id is the socket side's pseudo probe in the
// loss counters, so a profile holds at most DWCP_MAX_PROBES - 1 probes.
constexpr int kMaxProfileProbes = DWCP_PROBE_ID_SOCKET;

struct CompiledProbe {
  std::string symbol;    // full Go symbol: "<package>/transport.(*MultiStreamTCP).sendChunk"
  std::string function;  // as the profile wrote it, relative to the package
  std::string event;     // "send_chunk"
  dwcp_event_kind kind = DWCP_EV_NONE;
  uint16_t probe_id = 0;    // index in the profile's "probes" array
  bool optional = false;    // a missing symbol is not an error
  dwcp_probe_spec entry{};  // attach at the function entry (phase ENTRY_ONLY, or ENTRY when has_exit)
  bool has_exit = false;
  dwcp_probe_spec exit{};  // attach at every RET of the function (phase EXIT), when has_exit
  std::string feature;     // "amst", "hde", "delta_encoding", "migration", "federation"
  // The struct field offsets (from "types") the entry/exit expressions rely on, each once; the
  // agent checks them against the binary's DWARF when it has one.
  std::vector<FieldOffsetUse> field_offsets;
};

// Where an AMST session keeps its streams, when the profile's "types" declare
// transport.MultiStreamTCP {streams, numStreams} and transport.StreamConn {streamID, bytesSent,
// bytesRecv}: the agent reads per-stream bytes from DWCP's own counters with it (at Close in BPF,
// meanwhile from userspace), instead of a probe per chunk.
struct SessionLayout {
  int32_t streams_off = 0;      // []*StreamConn (ptr, len, cap)
  int32_t num_streams_off = 0;  // int: streams the session opens (0 for the fixture's receivers)
  int32_t stream_id_off = 0;
  int32_t sent_off = 0;
  int32_t recv_off = 0;
  // Optional (-1: the profile does not declare them). DWCP's own activeStreams (atomic.Int32: Start,
  // AdjustStreams and the health check set it), its started flag (bool), and each stream's
  // reconnects (atomic.Int32: successful reconnectStream calls).
  int32_t active_off = -1;
  int32_t started_off = -1;
  int32_t reconnects_off = -1;
  std::vector<FieldOffsetUse> field_offsets;  // checked against the binary's DWARF
};

// Where a DeltaEncoder keeps its own totals (DWCP's GetMetrics reads the same fields):
// len(baselineStates) is baseline_count, totalEncoded and deltaHits the hit rate.
struct EncoderLayout {
  int32_t baselines_off = 0;                  // map[string]*BaselineState: its length is the map header's first word
  int32_t encoded_off = 0;                    // uint64 totalEncoded
  int32_t decoded_off = 0;                    // uint64 totalDecoded
  int32_t hits_off = 0;                       // uint64 deltaHits
  std::vector<FieldOffsetUse> field_offsets;  // checked against the binary's DWARF
};

struct Profile {
  std::string name, description, package;
  std::vector<CompiledProbe> probes;
  std::optional<SessionLayout> session_layout;
  std::optional<EncoderLayout> encoder_layout;
};

// Parses and compiles a profile. Errors read "<source_name>: probes[3].entry.bytes: what is wrong;
// what to do" (JSON syntax errors: "<source_name>:LINE:COLUMN: invalid JSON: ...").
// The registers are assigned for `arch` (the agent's own unless a test asks for another).
Result<Profile> parse_profile(std::string_view json_text, std::string_view source_name,
                              Arch arch = goelf::native_arch());
Result<Profile> load_profile(const std::string& path);

// The profile used when none is given: DWCP_DEFAULT_PROFILE, fixed at build time (the source
// tree's configs/probes/novacron-dwcp.json unless the build sets the installed path).
std::string default_profile_path();

// "send_chunk" <-> DWCP_EV_SEND_CHUNK, from the contract's one table.
using contract::event_kind_from_name;
using contract::event_kind_name;  // "" for NONE / out of range

// Human-readable dump of a compiled probe (symbol, phases, every field's location).
std::string describe_probe(const CompiledProbe& probe);

}  // namespace dwcp::profile
