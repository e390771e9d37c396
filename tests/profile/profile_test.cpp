// The shipped profile compiles to the locations worked out by hand; malformed profiles
// (tests/profile/bad/, expectations in bad/EXPECTED.tsv) fail with errors naming where and what.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "profile/field_expr.h"
#include "profile/profile.h"

namespace dwcp::profile {
namespace {

const std::string kPackage = "github.com/khryptorgraphics/novacron/backend/core/network/dwcp";

const Profile& shipped() {
  static const Profile profile = [] {
    auto loaded = load_profile(DWCP_SHIPPED_PROFILE);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error());
    return loaded.ok() ? *loaded : Profile{};
  }();
  return profile;
}

// The opt-in debug profile: the shipped one plus a probe per AMST chunk.
const Profile& chunks() {
  static const Profile profile = [] {
    auto loaded = load_profile(DWCP_CHUNKS_PROFILE);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error());
    return loaded.ok() ? *loaded : Profile{};
  }();
  return profile;
}

// From the shipped profile; the chunk probes (not in it) from the debug profile.
const CompiledProbe& probe_for(const std::string& event) {
  for (const auto& probe : shipped().probes) {
    if (probe.event == event) return probe;
  }
  for (const auto& probe : chunks().probes) {
    if (probe.event == event && (event == "send_chunk" || event == "receive_chunk")) return probe;
  }
  ADD_FAILURE() << "no probe for event " << event;
  static const CompiledProbe none{};
  return none;
}

// The field of `spec` writing `slot` (int slots) or string slot `slot`, described; "" if none.
std::string field(const dwcp_probe_spec& spec, int slot, bool string = false) {
  for (int i = 0; i < spec.nfields; ++i) {
    const dwcp_field& f = spec.fields[i];
    if ((f.type == DWCP_FIELD_STRING) == string && f.slot == slot) return describe_field(f);
  }
  return "";
}

TEST(ShippedProfile, LoadsWithEveryCatalogueFunction) {
  const Profile& profile = shipped();
  EXPECT_EQ(profile.name, "novacron-dwcp");
  EXPECT_EQ(profile.package, kPackage);
  ASSERT_EQ(profile.probes.size(), 17u);
  for (size_t i = 0; i < profile.probes.size(); ++i) {
    const CompiledProbe& probe = profile.probes[i];
    EXPECT_EQ(probe.probe_id, i);
    EXPECT_EQ(probe.entry.probe_id, i);
    EXPECT_EQ(probe.entry.kind, probe.kind);
    EXPECT_FALSE(probe.optional);
    if (probe.has_exit) {
      EXPECT_EQ(probe.exit.probe_id, i);
      EXPECT_EQ(probe.exit.kind, probe.kind);
    }
  }
  // Every event kind is probed exactly once, but none per AMST chunk (issue 12: per-stream bytes
  // come from DWCP's own counters), and stream_final is the BPF program's own event.
  for (int kind = DWCP_EV_NONE + 1; kind < DWCP_EV_KIND_COUNT; ++kind) {
    int count = 0;
    for (const auto& probe : profile.probes) count += probe.kind == kind;
    const bool absent = kind == DWCP_EV_SEND_CHUNK || kind == DWCP_EV_RECEIVE_CHUNK || kind == DWCP_EV_STREAM_FINAL;
    EXPECT_EQ(count, absent ? 0 : 1) << event_kind_name(static_cast<dwcp_event_kind>(kind));
  }
}

TEST(ShippedProfile, DebugProfileAddsOnlyTheChunkProbes) {
  const Profile& debug = chunks();
  EXPECT_EQ(debug.name, "novacron-dwcp-chunks");
  ASSERT_EQ(debug.probes.size(), shipped().probes.size() + 2);
  std::vector<std::string> extra;
  for (const auto& probe : debug.probes) {
    bool in_shipped = false;
    for (const auto& other : shipped().probes) {
      dwcp_probe_spec entry = other.entry;  // the probe id is the index: it shifts
      entry.probe_id = probe.entry.probe_id;
      in_shipped |= other.symbol == probe.symbol && other.event == probe.event &&
                    std::memcmp(&entry, &probe.entry, sizeof entry) == 0;
    }
    if (!in_shipped) extra.push_back(probe.event);
  }
  EXPECT_EQ(extra, (std::vector<std::string>{"send_chunk", "receive_chunk"}));
}

TEST(ShippedProfile, AmstProbesCarryTheirSessionAndTheLayoutIsDeclared) {
  // The receiver (*MultiStreamTCP) is the first word: RAX at entry.
  for (const char* event : {"session_start", "stream_open", "send", "receive", "session_close", "adjust_streams",
                            "reconnect", "send_chunk", "receive_chunk"})
    EXPECT_EQ(field(probe_for(event).entry, DWCP_SLOT_SESSION), "REG RAX width 8") << event;
  // The same slot holds a DeltaEncoder probe's receiver ("object"): RAX too.
  EXPECT_EQ(field(probe_for("encode").entry, DWCP_SLOT_ENTRY_AUX), "REG RAX width 8");
  ASSERT_TRUE(shipped().session_layout.has_value());
  const SessionLayout& layout = *shipped().session_layout;
  EXPECT_EQ(layout.streams_off, 16);
  EXPECT_EQ(layout.num_streams_off, 40);
  EXPECT_EQ(layout.stream_id_off, 8);
  EXPECT_EQ(layout.sent_off, 16);
  EXPECT_EQ(layout.recv_off, 24);
  // DWCP's own figures beside the bytes (catalogue §6): activeStreams, started, reconnects.
  EXPECT_EQ(layout.active_off, 96);
  EXPECT_EQ(layout.started_off, 240);
  EXPECT_EQ(layout.reconnects_off, 72);
  const std::string session = kPackage + "/transport.MultiStreamTCP";
  EXPECT_EQ(layout.field_offsets.front(), (FieldOffsetUse{session, "streams", 16}));
  EXPECT_EQ(layout.field_offsets.size(), 8u);
}

TEST(ShippedProfile, SymbolsAndFeatures) {
  EXPECT_EQ(probe_for("send_chunk").symbol, kPackage + "/transport.(*MultiStreamTCP).sendChunk");
  EXPECT_EQ(probe_for("encode").symbol, kPackage + "/compression.(*DeltaEncoder).Encode");
  EXPECT_EQ(probe_for("compress_memory").symbol, kPackage + ".(*HDE).CompressMemory");
  EXPECT_EQ(probe_for("fed_sync").symbol, kPackage + ".(*FederationAdapter).SyncClusterState");
  EXPECT_EQ(probe_for("send_chunk").feature, "amst");
  EXPECT_EQ(probe_for("encode").feature, "delta_encoding");
  EXPECT_EQ(probe_for("decompress").feature, "hde");
  EXPECT_EQ(probe_for("migrate_disk").feature, "migration");
  EXPECT_EQ(probe_for("fed_baseline").feature, "federation");
}

TEST(ShippedProfile, Phases) {
  // Close: paired although only its error is read: when Go's prologue calls morestack and
  // jumps back to the first instruction, an entry-only uprobe fires twice for one call; a
  // paired entry is simply replaced and the single exit emits one event.
  const CompiledProbe& close = probe_for("session_close");
  ASSERT_TRUE(close.has_exit);
  EXPECT_EQ(close.entry.phase, DWCP_PHASE_ENTRY);
  EXPECT_EQ(close.entry.nfields, 1);  // the session
  EXPECT_EQ(close.exit.phase, DWCP_PHASE_EXIT);
  // Start: the session at entry, kept for the exit (duration), err at exit.
  const CompiledProbe& start = probe_for("session_start");
  ASSERT_TRUE(start.has_exit);
  EXPECT_EQ(start.entry.phase, DWCP_PHASE_ENTRY);
  EXPECT_EQ(start.entry.nfields, 1);  // the session
  EXPECT_EQ(start.exit.phase, DWCP_PHASE_EXIT);
  EXPECT_EQ(field(start.exit, DWCP_SLOT_ERR), "nonnil REG RAX width 8");
}

TEST(ShippedProfile, SendChunk) {
  // receiver RAX, stream RBX, chunk RCX (ptr) RDI (len) RSI (cap), chunkID R8; result error RAX RBX.
  const CompiledProbe& probe = probe_for("send_chunk");
  EXPECT_EQ(probe.entry.nfields, 4);                                         // and the session (receiver)
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_ID), "REG RBX deref [8] width 8");  // stream.streamID
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_BYTES), "REG RDI width 8 + 8");     // len(chunk) + header
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_COUNT), "REG R8 width 8");          // chunkID
  EXPECT_EQ(field(probe.exit, DWCP_SLOT_ERR), "nonnil REG RAX width 8");
  // The raw struct, as the BPF side reads it.
  const dwcp_field& id = probe.entry.fields[0];
  EXPECT_EQ(id.type, DWCP_FIELD_INT);
  EXPECT_EQ(id.slot, DWCP_SLOT_ID);
  EXPECT_EQ(id.loc.base, DWCP_LOC_REG);
  EXPECT_EQ(id.loc.reg, 1);  // the second integer register (amd64 RBX, arm64 R1)
  EXPECT_EQ(id.loc.nderef, 1);
  EXPECT_EQ(id.loc.deref[0], 8);
  EXPECT_EQ(id.loc.width, 8);
  EXPECT_EQ(probe.entry.fields[1].add, 8);
}

TEST(ShippedProfile, TransportResults) {
  // Receive: expectedSize RBX; results []byte RAX RBX RCX, error RDI RSI.
  const CompiledProbe& receive = probe_for("receive");
  EXPECT_EQ(field(receive.entry, DWCP_SLOT_COUNT), "REG RBX width 8");
  EXPECT_EQ(field(receive.exit, DWCP_SLOT_RESULT_BYTES), "REG RBX width 8");
  EXPECT_EQ(field(receive.exit, DWCP_SLOT_ERR), "nonnil REG RDI width 8");
  // receiveChunk: results int RAX, []byte RBX RCX RDI, error RSI R8.
  const CompiledProbe& chunk = probe_for("receive_chunk");
  EXPECT_EQ(field(chunk.entry, DWCP_SLOT_ID), "REG RBX deref [8] width 8");
  EXPECT_EQ(field(chunk.exit, DWCP_SLOT_RESULT_AUX), "REG RAX width 8");
  EXPECT_EQ(field(chunk.exit, DWCP_SLOT_RESULT_BYTES), "REG RCX width 8 + 8");
  EXPECT_EQ(field(chunk.exit, DWCP_SLOT_ERR), "nonnil REG RSI width 8");
  EXPECT_EQ(field(probe_for("stream_open").entry, DWCP_SLOT_ID), "REG RBX width 8");
  EXPECT_EQ(field(probe_for("send").entry, DWCP_SLOT_BYTES), "REG RCX width 8");
  EXPECT_EQ(field(probe_for("reconnect").entry, DWCP_SLOT_ID), "REG RBX deref [8] width 8");
}

TEST(ShippedProfile, EncodeReadsTheEncodedDataStruct) {
  // stateKey RBX RCX, data RDI RSI R8; results *EncodedData RAX, error RBX RCX.
  const CompiledProbe& probe = probe_for("encode");
  EXPECT_EQ(field(probe.entry, DWCP_STR_NAME, true), "string ptr REG RBX width 8 len REG RCX width 8");
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_BYTES), "REG RSI width 8");
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_ID), "REG RDI width 8");  // ptr(data)
  // The receiver, whose own totals the agent reads (types DeltaEncoder); Decode and Prune too.
  for (const char* event : {"encode", "decode", "prune"})
    EXPECT_EQ(field(probe_for(event).entry, DWCP_SLOT_OBJECT), "REG RAX width 8") << event;
  ASSERT_TRUE(shipped().encoder_layout.has_value());
  EXPECT_EQ(shipped().encoder_layout->baselines_off, 0);
  EXPECT_EQ(shipped().encoder_layout->encoded_off, 152);
  EXPECT_EQ(shipped().encoder_layout->decoded_off, 160);
  EXPECT_EQ(shipped().encoder_layout->hits_off, 168);
  EXPECT_EQ(probe.exit.nfields, 4);
  EXPECT_EQ(field(probe.exit, DWCP_SLOT_RESULT_BYTES), "REG RAX deref [32] width 8");  // CompressedSize
  EXPECT_EQ(field(probe.exit, DWCP_SLOT_RESULT_AUX), "REG RAX deref [0] width 8");     // ptr(Data)
  EXPECT_EQ(field(probe.exit, DWCP_SLOT_RESULT_FLAG), "REG RAX deref [40] width 1");   // IsDelta
  EXPECT_EQ(field(probe.exit, DWCP_SLOT_ERR), "nonnil REG RBX width 8");
  EXPECT_EQ(field(probe_for("decode").exit, DWCP_SLOT_RESULT_BYTES), "REG RBX width 8");
  EXPECT_EQ(field(probe_for("prune").exit, DWCP_SLOT_RESULT_AUX), "REG RAX width 8");
}

TEST(ShippedProfile, RecordsTheStructFieldOffsetsEachProbeReads) {
  const std::string stream_conn = kPackage + "/transport.StreamConn";
  const std::string encoded_data = kPackage + "/compression.EncodedData";
  EXPECT_EQ(probe_for("send_chunk").field_offsets, (std::vector<FieldOffsetUse>{{stream_conn, "streamID", 8}}));
  // In the order the profile's exit block reads them.
  EXPECT_EQ(probe_for("encode").field_offsets,
            (std::vector<FieldOffsetUse>{
                {encoded_data, "CompressedSize", 32}, {encoded_data, "Data", 0}, {encoded_data, "IsDelta", 40}}));
  // Register-only probes rely on no struct layout.
  EXPECT_TRUE(probe_for("decode").field_offsets.empty());
}

TEST(Profile, FieldOffsetsAreQualifiedWithThePackageTheTypeIsDeclaredIn) {
  auto profile = parse_profile(R"({"schema": 1, "name": "mini", "package": "example.com/x",
      "types": {"Conn": {"kind": "struct", "fields": {"id": {"offset": 16, "type": "int"}}},
                "sub.Conn": {"kind": "struct", "fields": {"id": {"offset": 8, "type": "int"},
                                                          "inner": {"offset": 24, "type": "x.Conn"}}}},
      "probes": [{"function": "sub.(*Server).Handle", "event": "send", "params": "c *Conn",
                  "entry": {"bytes": "c.id", "count": "c.id", "id": "c.inner.id"}},
                 {"function": "(*Server).Run", "event": "session_start", "params": "c *Conn",
                  "entry": {"id": "c.id"}}]})",
                               "inline");
  ASSERT_TRUE(profile.ok()) << profile.error();
  ASSERT_EQ(profile->probes.size(), 2u);
  // Inside package sub, `Conn` is sub.Conn; its `inner` field is the root package's Conn.
  // `c.id` is read twice but listed once.
  EXPECT_EQ(profile->probes[0].field_offsets, (std::vector<FieldOffsetUse>{{"example.com/x/sub.Conn", "id", 8},
                                                                           {"example.com/x/sub.Conn", "inner", 24},
                                                                           {"example.com/x.Conn", "id", 16}}));
  EXPECT_EQ(profile->probes[1].field_offsets, (std::vector<FieldOffsetUse>{{"example.com/x.Conn", "id", 16}}));
}

TEST(ShippedProfile, HdeProbes) {
  // CompressDisk: vmID RBX RCX, diskData RDI RSI R8, blockID R9, tier R10.
  const CompiledProbe& disk = probe_for("compress_disk");
  EXPECT_EQ(field(disk.entry, DWCP_STR_NAME, true), "string ptr REG RBX width 8 len REG RCX width 8");
  EXPECT_EQ(field(disk.entry, DWCP_SLOT_BYTES), "REG RSI width 8");
  EXPECT_EQ(field(disk.entry, DWCP_SLOT_ID), "REG R9 width 8");
  EXPECT_EQ(field(disk.exit, DWCP_SLOT_RESULT_BYTES), "REG RBX width 8 - 16");  // without the packet header
  EXPECT_EQ(field(disk.exit, DWCP_SLOT_ERR), "nonnil REG RDI width 8");
  EXPECT_EQ(field(probe_for("compress_memory").entry, DWCP_SLOT_BYTES), "REG RSI width 8");
  EXPECT_EQ(field(probe_for("decompress").entry, DWCP_SLOT_BYTES), "REG RCX width 8");
}

TEST(ShippedProfile, MigrateVMMemoryReadsTargetHostFromTheStack) {
  // ctx RBX RCX, vmID RDI RSI, memoryData R8 R9 R10, targetHost SP+8/SP+16, progressCallback R11.
  const CompiledProbe& probe = probe_for("migrate_memory");
  EXPECT_EQ(field(probe.entry, DWCP_STR_NAME, true), "string ptr REG RDI width 8 len REG RSI width 8");
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_BYTES), "REG R9 width 8");
  EXPECT_EQ(field(probe.entry, DWCP_STR_PEER, true), "string ptr STACK SP+8 width 8 len STACK SP+16 width 8");
}

TEST(ShippedProfile, MigrateVMDiskCountsTheMap) {
  // diskBlocks (map header pointer) R8: its count word at offset 0.
  const CompiledProbe& probe = probe_for("migrate_disk");
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_COUNT), "REG R8 deref [0] width 8");
  EXPECT_EQ(field(probe.entry, DWCP_STR_PEER, true), "string ptr REG R9 width 8 len REG R10 width 8");
}

TEST(ShippedProfile, SyncClusterState) {
  // sourceCluster RDI RSI, targetClusters R8 R9 R10, stateData SP+8/SP+16/SP+24.
  const CompiledProbe& probe = probe_for("fed_sync");
  EXPECT_EQ(probe.entry.nfields, 4);
  EXPECT_EQ(field(probe.entry, DWCP_STR_NAME, true), "string ptr REG RDI width 8 len REG RSI width 8");
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_COUNT), "REG R9 width 8");
  EXPECT_EQ(field(probe.entry, DWCP_STR_PEER, true),
            "string ptr REG R8 deref [0] width 8 len REG R8 deref [8] width 8");  // targetClusters[0]
  EXPECT_EQ(field(probe.entry, DWCP_SLOT_BYTES), "STACK SP+16 width 8");          // len(stateData)
  EXPECT_EQ(field(probe_for("fed_baseline").entry, DWCP_SLOT_BYTES), "REG R9 width 8");
}

TEST(ShippedProfile, DescribeProbe) {
  const std::string text = describe_probe(probe_for("send_chunk"));
  EXPECT_NE(text.find("sendChunk"), std::string::npos);
  EXPECT_NE(text.find("id = REG RBX deref [8] width 8"), std::string::npos) << text;
  EXPECT_NE(text.find("err = nonnil REG RAX width 8"), std::string::npos) << text;
}

TEST(Profile, DefaultPathIsTheShippedProfileInTheSourceTree) {
  // Builds for installation override DWCP_DEFAULT_PROFILE; a development build uses the source tree.
  EXPECT_EQ(std::filesystem::weakly_canonical(default_profile_path()),
            std::filesystem::weakly_canonical(DWCP_SHIPPED_PROFILE));
}

TEST(Profile, MinimalProfileAndOptionalProbes) {
  auto profile = parse_profile(R"({"schema": 1, "name": "mini", "package": "example.com/x",
      "probes": [{"function": "sub.Helper", "event": "send", "optional": true, "feature": "extra",
                  "params": "n int", "entry": {"bytes": "n"}},
                 {"function": "Run", "event": "session_start"},
                 {"function": "(Value).M", "event": "prune", "params": "", "results": "int",
                  "exit": {"result_aux": "result0"}}],
      "types": {"Value": "int"}})",
                               "inline");
  ASSERT_TRUE(profile.ok()) << profile.error();
  ASSERT_EQ(profile->probes.size(), 3u);
  EXPECT_EQ(profile->probes[0].symbol, "example.com/x/sub.Helper");
  EXPECT_TRUE(profile->probes[0].optional);
  EXPECT_EQ(profile->probes[0].feature, "extra");
  EXPECT_EQ(field(profile->probes[0].entry, DWCP_SLOT_BYTES), "REG RAX width 8");  // no receiver
  EXPECT_EQ(profile->probes[1].symbol, "example.com/x.Run");
  EXPECT_EQ(profile->probes[1].entry.phase, DWCP_PHASE_ENTRY_ONLY);
  // Value receivers are spelled without parentheses in Go symbols.
  EXPECT_EQ(profile->probes[2].symbol, "example.com/x.Value.M");
}

std::string profile_error(const std::string& probe_json, const std::string& types_json = "{}") {
  auto profile = parse_profile(R"({"schema": 1, "name": "x", "package": "example.com/x", "types": )" + types_json +
                                   R"(, "probes": [)" + probe_json + "]}",
                               "inline");
  EXPECT_FALSE(profile.ok());
  return profile.ok() ? "" : profile.error();
}

TEST(Profile, FunctionNameMistakes) {
  EXPECT_NE(profile_error(R"j({"function": "transport.(*M).Send.func1", "event": "send"})j")
                .find("inline: probes[0].function: `transport.(*M).Send.func1` has too many parts"),
            std::string::npos);
  EXPECT_NE(profile_error(R"j({"function": "transport.(*M)", "event": "send"})j").find("is not a function name"),
            std::string::npos);
  EXPECT_NE(profile_error(R"j({"function": "(*M.Send", "event": "send"})j").find("is not a Go function name"),
            std::string::npos);
  EXPECT_NE(profile_error(R"j({"function": "(*M) .Send", "event": "send"})j").find("contains a space"),
            std::string::npos);
  // A value receiver must be declared: its layout decides the registers of everything after it.
  EXPECT_NE(profile_error(R"j({"function": "(Value).M", "event": "send"})j")
                .find("probes[0].function: receiver: unknown type `Value`"),
            std::string::npos);
}

TEST(Profile, TypeTableMistakes) {
  EXPECT_NE(profile_error(R"({"function": "F", "event": "send"})", R"({"bad name": "int"})")
                .find(R"(types["bad name"]: `bad name` is not a type name)"),
            std::string::npos);
  EXPECT_NE(profile_error(R"({"function": "F", "event": "send"})", R"({"S": {"kind": "union", "fields": {}}})")
                .find(R"(types["S"].kind: only "struct" is supported)"),
            std::string::npos);
  EXPECT_NE(profile_error(R"({"function": "F", "event": "send"})",
                          R"({"S": {"kind": "struct", "fields": {"a": {"offset": -1, "type": "int"}}}})")
                .find(R"(types["S"].fields.a.offset: expected a non-negative integer)"),
            std::string::npos);
  EXPECT_NE(profile_error(R"({"function": "F", "event": "send"})", R"({"A": "B", "B": "A"})").find("nest"),
            std::string::npos);
  EXPECT_NE(profile_error(R"({"function": "F", "event": "send"})", "[]").find("types: expected an object"),
            std::string::npos);
}

TEST(Profile, EventNamesRoundTrip) {
  for (int kind = DWCP_EV_NONE + 1; kind < DWCP_EV_KIND_COUNT; ++kind) {
    const auto name = event_kind_name(static_cast<dwcp_event_kind>(kind));
    ASSERT_NE(std::string(name), "");
    EXPECT_EQ(event_kind_from_name(name), static_cast<dwcp_event_kind>(kind));
  }
  EXPECT_FALSE(event_kind_from_name("nope"));
  EXPECT_EQ(event_kind_from_name("send_chunk"), DWCP_EV_SEND_CHUNK);
  EXPECT_EQ(event_kind_from_name("fed_baseline"), DWCP_EV_FED_BASELINE);
}

TEST(Profile, StringSlotReadOnlyOnce) {
  auto profile = parse_profile(R"({"schema": 1, "name": "x", "package": "example.com/x",
      "probes": [{"function": "F", "event": "encode", "params": "key string", "results": "string",
                  "entry": {"name": "key"}, "exit": {"name": "result0"}}]})",
                               "inline");
  ASSERT_FALSE(profile.ok());
  EXPECT_NE(profile.error().find("inline: probes[0].exit.name: the `name` string slot is already read"),
            std::string::npos)
      << profile.error();
}

TEST(Profile, UnreadablePaths) {
  auto missing = load_profile("/nonexistent/dwcp/profile.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot read profile `/nonexistent/dwcp/profile.json`: No such file or directory"),
            std::string::npos)
      << missing.error();
  auto directory = load_profile(DWCP_PROFILE_TEST_DIR);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().find("it is a directory"), std::string::npos) << directory.error();
}

TEST(Profile, WrongTopLevelShapes) {
  auto array = parse_profile("[1, 2]", "x.json");
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.error().find("x.json: (top level): expected a JSON object"), std::string::npos) << array.error();
  auto unknown = parse_profile(R"({"schema": 1, "name": "x", "package": "p", "probes": [], "probe": 1})", "x.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("x.json: probe: unknown key `probe` in top level (did you mean `probes`?)"),
            std::string::npos)
      << unknown.error();
  auto empty = parse_profile(R"({"schema": 1, "name": "x", "package": "p", "probes": []})", "x.json");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().find("probes: the profile has no probes"), std::string::npos);
}

struct BadSample {
  std::string file;
  std::string expected;
};

std::vector<BadSample> bad_samples() {
  std::vector<BadSample> samples;
  std::ifstream table(std::string(DWCP_PROFILE_TEST_DIR) + "/bad/EXPECTED.tsv");
  std::string line;
  while (std::getline(table, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    samples.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return samples;
}

TEST(Profile, BadSamplesTableCoversEveryFile) {
  const auto samples = bad_samples();
  EXPECT_GE(samples.size(), 12u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DWCP_PROFILE_TEST_DIR) + "/bad")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    bool listed = false;
    for (const auto& sample : samples) listed = listed || sample.file == entry.path().filename().string();
    EXPECT_TRUE(listed) << entry.path() << " has no line in EXPECTED.tsv";
  }
  EXPECT_EQ(files, samples.size());
}

TEST(Profile, BadSamplesFailWithWhereAndWhat) {
  for (const auto& sample : bad_samples()) {
    const std::string path = std::string(DWCP_PROFILE_TEST_DIR) + "/bad/" + sample.file;
    auto profile = load_profile(path);
    ASSERT_FALSE(profile.ok()) << sample.file << " loaded";
    EXPECT_EQ(profile.error().rfind(path, 0), 0u) << "error does not start with the file: " << profile.error();
    EXPECT_NE(profile.error().find(sample.expected), std::string::npos)
        << sample.file << "\n  got:      " << profile.error() << "\n  expected: " << sample.expected;
  }
}

}  // namespace
}  // namespace dwcp::profile
