// Parity of the two sources: one DWCP session told as the raw events the BPF program emits
// (decoded by the agent's EventDecoder, plus the system state the agent derives on attach) and
// told through the hook library must give identical dwcp_* series. Dashboards and alerts then
// cannot tell which source ran.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "../model/scenario.h"
#include "agent/decoder.h"
#include "agent/system_state.h"
#include "agent/target_reads.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/hooks.h"
#include "dwcp_observer/model.h"

namespace dwcp {
namespace {

// The decoder's model events (a decoder without readers: its read requests find nothing to read).
void decode(agent::EventDecoder& decoder, const dwcp_event& raw, std::vector<Event>* out) {
  std::vector<agent::Decoded> decoded;
  decoder.decode(raw, &decoded);
  agent::carry_out(decoded, nullptr, nullptr, out);
}

using Slot = std::pair<int, std::int64_t>;

// An event as the BPF program writes it: `paired` events carry exit values and a duration.
dwcp_event raw(dwcp_event_kind kind, bool paired, std::initializer_list<Slot> slots, double seconds = 0,
               const char* name = "", const char* peer = "") {
  dwcp_event e{};
  e.kind = kind;
  e.tgid = 4242;
  e.flags = paired ? DWCP_EVF_PAIRED : 0;
  e.duration_ns = static_cast<std::uint64_t>(seconds * 1e9 + 0.5);
  for (const auto& [slot, value] : slots) e.val[slot] = value;
  std::strncpy(e.str[DWCP_STR_NAME], name, DWCP_STR_LEN - 1);
  std::strncpy(e.str[DWCP_STR_PEER], peer, DWCP_STR_LEN - 1);
  return e;
}

const std::set<std::string> kProfileFeatures = {"amst", "delta_encoding", "federation", "hde", "migration"};
const std::set<std::string> kLiveFeatures = {"amst", "delta_encoding", "federation", "migration"};
const agent::BinaryVersion kVersion = {"v1.4.2", "abc1234", "2025-11-08T10:00:00Z"};

// The session as the BPF side sees it.
std::vector<dwcp_event> raw_session() {
  std::vector<dwcp_event> events;
  for (int id = 0; id < 4; ++id) events.push_back(raw(DWCP_EV_STREAM_OPEN, true, {{DWCP_SLOT_ID, id}}));
  events.push_back(raw(DWCP_EV_STREAM_OPEN, true, {{DWCP_SLOT_ID, 4}, {DWCP_SLOT_ERR, 1}}));
  for (int round = 0; round < 3; ++round)
    for (int id = 0; id < 4; ++id) {
      // sendChunk: the profile reads len(chunk) + 8 (the wire header) into the bytes slot.
      events.push_back(raw(DWCP_EV_SEND_CHUNK, true, {{DWCP_SLOT_ID, id}, {DWCP_SLOT_BYTES, 65536 + 8 + id}}));
      events.push_back(
          raw(DWCP_EV_RECEIVE_CHUNK, true, {{DWCP_SLOT_ID, id}, {DWCP_SLOT_RESULT_BYTES, 65536 + 8 + id}}));
    }
  events.push_back(raw(DWCP_EV_SEND_CHUNK, true, {{DWCP_SLOT_ID, 2}, {DWCP_SLOT_BYTES, 999}, {DWCP_SLOT_ERR, 1}}));
  events.push_back(raw(DWCP_EV_SEND, true, {{DWCP_SLOT_BYTES, 786432}}, 0.25));
  events.push_back(raw(DWCP_EV_SEND, true, {{DWCP_SLOT_BYTES, 786432}, {DWCP_SLOT_ERR, 1}}, 1.5));
  events.push_back(raw(DWCP_EV_RECEIVE, true, {{DWCP_SLOT_RESULT_BYTES, 786432}}, 0.125));
  events.push_back(raw(DWCP_EV_SESSION_CLOSE, false, {}));
  // Delta encoding: a miss stores a baseline, then hits; a refresh of the same key adds no
  // baseline; a small input skipped (the input slice handed back) counts nowhere; one decode
  // fails; a prune drops one. The profile reads the input and result data pointers.
  auto encode = [&](const char* key, std::int64_t original, std::int64_t compressed, bool hit, bool skipped = false) {
    events.push_back(raw(DWCP_EV_ENCODE, true,
                         {{DWCP_SLOT_BYTES, original},
                          {DWCP_SLOT_ID, 0x7000},
                          {DWCP_SLOT_RESULT_AUX, skipped ? 0x7000 : 0x9000},
                          {DWCP_SLOT_RESULT_BYTES, compressed},
                          {DWCP_SLOT_RESULT_FLAG, hit}},
                         0.002, key));
  };
  encode("vm-1/state", 4096, 2500, false);
  encode("vm-1/state", 4096, 300, true);
  encode("vm-1/small", 300, 300, false, true);
  encode("vm-1/state", 8192, 410, true);
  encode("vm-1/state", 4096, 2600, false);
  encode("vm-2/state", 4096, 2400, false);
  events.push_back(raw(DWCP_EV_DECODE, true, {}, 0.001));
  events.push_back(raw(DWCP_EV_DECODE, true, {{DWCP_SLOT_ERR, 1}}, 0.001));
  events.push_back(raw(DWCP_EV_PRUNE, true, {{DWCP_SLOT_RESULT_AUX, 1}}));
  // A migration through DWCP's adapter and two federation syncs.
  events.push_back(raw(DWCP_EV_MIGRATE_MEMORY, true, {{DWCP_SLOT_BYTES, 1 << 20}}, 0.7, "vm-1", "node-b"));
  events.push_back(raw(DWCP_EV_FED_SYNC, true, {{DWCP_SLOT_BYTES, 4096}}, 0.05, "cluster-a", "cluster-b"));
  events.push_back(raw(DWCP_EV_FED_BASELINE, true, {{DWCP_SLOT_BYTES, 2048}}, 0.02, "baseline-7"));
  return events;
}

// The same session through the hook API, call for call.
void drive_hooks() {
  AMSTMetricsWrapper amst;
  HDEMetricsWrapper hde;
  MigrationMetricsWrapper migration;
  FederationMetricsWrapper federation;
  SystemMetricsWrapper system;
  // What the agent derives on attach: features, health, version.
  for (const auto& feature : kProfileFeatures) system.OnFeatureToggle(feature, kLiveFeatures.count(feature) > 0);
  for (const char* component : {"amst", "hde", "migration", "federation"})
    system.OnComponentHealthChange(component, HealthStatus::Healthy);
  SetVersionInfo(kVersion.version, kVersion.git_commit, kVersion.build_date);

  for (const char* id : {"0", "1", "2", "3"}) amst.OnStreamStart(id);
  amst.OnStreamStartFailed("4");
  for (int round = 0; round < 3; ++round)
    for (int id = 0; id < 4; ++id) {
      amst.OnStreamData(std::to_string(id), 65536 + 8 + id, 0);
      amst.OnStreamData(std::to_string(id), 0, 65536 + 8 + id);
    }
  amst.OnStreamError("2", "send_chunk");
  amst.OnOperationLatency("send", 0.25);
  amst.OnOperationLatency("send", 1.5);
  amst.OnStreamError("", "send");
  amst.OnOperationLatency("receive", 0.125);
  amst.OnSessionClosed();
  hde.OnCompressionComplete("delta", 4096, 2500, false);
  hde.OnBaselineUpdate("delta", 1);
  hde.OnCompressionComplete("delta", 4096, 300, true);
  hde.OnCompressionComplete("delta", 8192, 410, true);
  hde.OnCompressionComplete("delta", 4096, 2600, false);
  hde.OnBaselineUpdate("delta", 1);
  hde.OnCompressionComplete("delta", 4096, 2400, false);
  hde.OnBaselineUpdate("delta", 2);
  hde.OnDecompressionComplete(true);
  hde.OnDecompressionComplete(false);
  hde.OnBaselineUpdate("delta", 1);
  // The hook path measures the migration itself: one fake-clock step (700 ms) from start to end.
  migration.OnMigrationStart("vm-1");
  migration.OnMigrationComplete("vm-1", "node-b", true);
  federation.OnFederationSync("cluster-b", "state", 0.05, 0);
  federation.OnFederationSync("all", "baseline", 0.02, 0);
}

TEST(BpfHookParity, DecodedBpfEventsAndHookCallsGiveIdenticalSeries) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, testing::parity_model_options());
  for (const auto& e : agent::attached_state_events(kProfileFeatures, kLiveFeatures, kVersion)) model.apply(e);
  agent::EventDecoder decoder;
  std::vector<Event> decoded;
  for (const auto& raw_event : raw_session()) decode(decoder, raw_event, &decoded);
  for (const auto& e : decoded) model.apply(e);
  const auto from_bpf = testing::dwcp_series_lines(render_text({registry}));

  Status status = InitializeMetrics(testing::parity_hook_config());
  ASSERT_TRUE(status.ok) << status.message;
  drive_hooks();
  const auto from_hooks = testing::dwcp_series_lines(MetricsText());
  ShutdownMetrics();

  ASSERT_GT(from_bpf.size(), 80u);
  EXPECT_EQ(from_bpf.size(), from_hooks.size());
  for (std::size_t i = 0; i < std::min(from_bpf.size(), from_hooks.size()); ++i)
    if (from_bpf[i] != from_hooks[i]) {
      ADD_FAILURE() << "first difference:\n  bpf:   " << from_bpf[i] << "\n  hooks: " << from_hooks[i];
      break;
    }
  // The families a BPF observer can feed all have series here (bandwidth utilization,
  // dictionary efficiency and speedup have no probe-able source: docs/metrics.md).
  for (const char* family :
       {"dwcp_amst_streams_active", "dwcp_amst_streams_total", "dwcp_amst_bytes_sent_total",
        "dwcp_amst_bytes_received_total", "dwcp_amst_errors_total", "dwcp_amst_latency_seconds",
        "dwcp_hde_compression_ratio", "dwcp_hde_operations_total", "dwcp_hde_delta_hit_rate_percent",
        "dwcp_hde_baseline_count", "dwcp_hde_bytes_original_total", "dwcp_hde_bytes_compressed_total",
        "dwcp_migration_duration_seconds", "dwcp_federation_sync_duration_seconds", "dwcp_system_component_health",
        "dwcp_system_config_enabled", "dwcp_system_version_info"}) {
    bool found = false;
    for (const auto& line : from_bpf) found = found || line.rfind(family, 0) == 0;
    EXPECT_TRUE(found) << family << " has no series from the BPF path";
  }
}

// Decoder rules that the parity scenario relies on, each checked on its own.
TEST(EventDecoder, EntryOnlyEventsCarryNoErrorOrLatency) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  decode(decoder, raw(DWCP_EV_SEND, false, {{DWCP_SLOT_ERR, 1}}), &out);
  EXPECT_TRUE(out.empty()) << "an entry-only Send has neither duration nor error result";
  decode(decoder, raw(DWCP_EV_SEND_CHUNK, false, {{DWCP_SLOT_ID, 3}, {DWCP_SLOT_BYTES, 72}}), &out);
  ASSERT_EQ(out.size(), 1u);
  const auto* bytes = std::get_if<StreamBytes>(&out[0]);
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(bytes->stream_id, "3");
  EXPECT_EQ(bytes->sent, 72u);
}

TEST(EventDecoder, NegativeSizesFromCorruptReadsAreClampedToZero) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  decode(decoder, raw(DWCP_EV_SEND_CHUNK, true, {{DWCP_SLOT_ID, 1}, {DWCP_SLOT_BYTES, -5}}), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<StreamBytes>(out[0]).sent, 0u);
}

TEST(EventDecoder, CompressMemoryDoesNotCountInTheDeltaHitRate) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  decode(decoder, raw(DWCP_EV_COMPRESS_MEMORY, true, {{DWCP_SLOT_BYTES, 4096}, {DWCP_SLOT_RESULT_BYTES, 1024}}), &out);
  ASSERT_EQ(out.size(), 1u);
  const auto& done = std::get<CompressionDone>(out[0]);
  EXPECT_EQ(done.data_type, "vm_memory");
  EXPECT_FALSE(done.delta_known);
  EXPECT_EQ(done.original_bytes, 4096u);
  EXPECT_EQ(done.compressed_bytes, 1024u);
}

TEST(EventDecoder, CompressCountsTheInputOfAFailedCallAsHdeDoes) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  decode(decoder,
         raw(DWCP_EV_COMPRESS_DISK, true, {{DWCP_SLOT_BYTES, 4096}, {DWCP_SLOT_RESULT_BYTES, -16}, {DWCP_SLOT_ERR, 1}}),
         &out);
  ASSERT_EQ(out.size(), 1u);
  const auto& done = std::get<CompressionDone>(out[0]);
  EXPECT_FALSE(done.success);
  EXPECT_EQ(done.original_bytes, 4096u);
  EXPECT_EQ(done.compressed_bytes, 0u);
}

// Encode as DWCP's GetMetrics counts it: skipped inputs nowhere, refreshes no new baseline.
TEST(EventDecoder, EncodeCountsBaselinesAndSkipsAsDeltaEncoderDoes) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  std::uint64_t ts = 1000;
  auto encode = [&](const char* key, std::int64_t in_ptr, std::int64_t out_ptr, std::int64_t size,
                    std::int64_t compressed, bool hit) {
    auto e = raw(DWCP_EV_ENCODE, true,
                 {{DWCP_SLOT_BYTES, size},
                  {DWCP_SLOT_ID, in_ptr},
                  {DWCP_SLOT_RESULT_AUX, out_ptr},
                  {DWCP_SLOT_RESULT_BYTES, compressed},
                  {DWCP_SLOT_RESULT_FLAG, hit}},
                 0.001, key);
    e.ts_ns = ts++;
    out.clear();
    decode(decoder, e, &out);
  };
  auto baselines = [&]() -> std::int64_t {
    for (const auto& e : out)
      if (auto* b = std::get_if<BaselineCount>(&e)) return b->count;
    return -1;  // no BaselineCount emitted
  };
  encode("a", 0x100, 0x100, 300, 300, false);  // skipped: the input handed back
  EXPECT_TRUE(out.empty());
  encode("a", 0x100, 0x200, 300, 300, false);  // same sizes, another slice: a baseline
  EXPECT_EQ(baselines(), 1);
  encode("a", 0x100, 0x200, 4096, 900, true);  // delta
  EXPECT_EQ(baselines(), -1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::get<CompressionDone>(out[0]).delta_hit);
  EXPECT_EQ(std::get<CompressionDone>(out[0]).original_bytes, 4096u);
  encode("a", 0x100, 0x300, 4096, 2000, false);  // refresh of a held key
  EXPECT_EQ(baselines(), 1);
  encode("b", 0x100, 0x300, 4096, 2000, false);
  encode("c", 0x100, 0x300, 4096, 2000, false);
  EXPECT_EQ(baselines(), 3);
  encode("a", 0x100, 0x300, 4096, 2000, false);  // refresh: "a" is now the youngest
  // A prune of 2 drops the two stored longest ago: b and c. Then b is new again, a is not.
  out.clear();
  decode(decoder, raw(DWCP_EV_PRUNE, true, {{DWCP_SLOT_RESULT_AUX, 2}}), &out);
  EXPECT_EQ(baselines(), 1);
  encode("a", 0x100, 0x300, 4096, 2000, false);
  EXPECT_EQ(baselines(), 1);
  encode("b", 0x100, 0x300, 4096, 2000, false);
  EXPECT_EQ(baselines(), 2);
}

TEST(EventDecoder, PruneNeverDrivesBaselinesNegative) {
  agent::EventDecoder decoder;
  std::vector<Event> out;
  decode(decoder, raw(DWCP_EV_PRUNE, true, {{DWCP_SLOT_RESULT_AUX, 10}}), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<BaselineCount>(out[0]).count, 0);
}

}  // namespace
}  // namespace dwcp
