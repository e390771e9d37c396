// The parity scenario: one DWCP session told as model events, and the same session told through
// the hook API. Feeding the events to a MetricsModel and driving the hooks must give identical
// dwcp_* series (tests/hooks/parity_test.cpp); the agent's tests add the BPF-decoder path.
//
// Durations the model measures itself (stream open -> close, migration start -> complete) come
// from parity_clock(), a fake clock advancing a fixed step per reading, so that both paths see
// the same durations as long as they produce the same events in the same order.
#pragma once

#include "dwcp_observer/hooks.h"
#include "dwcp_observer/model.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace dwcp::testing {

constexpr const char* kParityCluster = "parity-cluster";
constexpr const char* kParityNode = "parity-node";

// A fresh fake clock: each reading is `step` later than the previous one.
inline std::function<std::chrono::steady_clock::time_point()> parity_clock(
    std::chrono::milliseconds step = std::chrono::milliseconds(700)) {
  auto now = std::make_shared<std::chrono::steady_clock::time_point>();
  return [now, step] {
    *now += step;
    return *now;
  };
}

inline ModelOptions parity_model_options() {
  ModelOptions options;
  options.cluster = kParityCluster;
  options.node = kParityNode;
  options.clock = parity_clock();
  return options;
}

inline MetricsConfig parity_hook_config() {
  MetricsConfig config;
  config.cluster = kParityCluster;
  config.node = kParityNode;
  config.listen_address.clear();  // no HTTP server: compared through MetricsText()
  config.clock = parity_clock();
  return config;
}

// The scenario as events (only events the hook API can produce: HDE operations "encode" and
// "decode" as the original names them, durations of migrations measured by the model).
inline std::vector<Event> parity_scenario() {
  std::vector<Event> events;
  events.push_back(VersionInfo{"1.4.2", "abc1234", "2025-11-08"});
  events.push_back(FeatureToggle{"amst", true});
  events.push_back(FeatureToggle{"hde", true});
  events.push_back(FeatureToggle{"federation", false});
  events.push_back(ComponentHealth{"amst", 2});
  events.push_back(ComponentHealth{"hde", 1});
  for (const char* id : {"0", "1", "2", "3"}) events.push_back(StreamOpened{id, true});
  events.push_back(StreamOpened{"4", false});
  events.push_back(StreamBytes{"0", 65544, 0});
  events.push_back(StreamBytes{"1", 65544, 128});
  events.push_back(StreamBytes{"2", 4104, 0});
  events.push_back(StreamBytes{"0", 65544, 0});
  events.push_back(StreamError{"2", "connection_reset"});
  events.push_back(StreamError{"3", "timeout"});
  events.push_back(Latency{"send", 0.0042});
  events.push_back(Latency{"send", 0.3});
  events.push_back(BandwidthUpdate{750e6, 1e9});
  events.push_back(CompressionDone{"vm_memory", 1 << 20, 1 << 17, false, true, "encode"});
  events.push_back(CompressionDone{"vm_memory", 1 << 20, 1 << 15, true, true, "encode"});
  events.push_back(CompressionDone{"vm_disk", 4 << 20, 3 << 20, true, true, "encode"});
  events.push_back(CompressionDone{"vm_memory", 1 << 20, 1 << 14, true, true, "encode"});
  const DecompressionDone decode_ok{true, "decode"};
  const DecompressionDone decode_failed{false, "decode"};
  events.push_back(decode_ok);
  events.push_back(decode_ok);
  events.push_back(decode_failed);
  events.push_back(BaselineCount{"vm_state", 12});
  events.push_back(BaselineCount{"disk_block", 3});
  events.push_back(DictionaryEfficiency{23.5});
  events.push_back(MigrationStarted{"mig-1"});
  events.push_back(MigrationStarted{"mig-2"});
  events.push_back(StreamClosed{"1"});
  events.push_back(MigrationCompleted{"mig-1", "node-b", true, -1});
  events.push_back(MigrationCompleted{"mig-2", "node-c", false, -1});
  events.push_back(SpeedupCalculated{"large_vm", 8.5});
  events.push_back(FederationSync{"cluster-eu", "state", 0.12, 1 << 20});
  events.push_back(FederationSync{"cluster-us", "baseline", 0.5, 0});
  events.push_back(ComponentHealth{"hde", 2});
  events.push_back(StreamClosed{"0"});
  events.push_back(AllStreamsClosed{});
  return events;
}

// The same scenario through the hook API (InitializeMetrics(parity_hook_config()) first).
inline void drive_parity_scenario_through_hooks() {
  AMSTMetricsWrapper amst;
  HDEMetricsWrapper hde;
  MigrationMetricsWrapper migration;
  FederationMetricsWrapper federation;
  SystemMetricsWrapper system;
  SetVersionInfo("1.4.2", "abc1234", "2025-11-08");
  system.OnFeatureToggle("amst", true);
  system.OnFeatureToggle("hde", true);
  system.OnFeatureToggle("federation", false);
  system.OnComponentHealthChange("amst", HealthStatus::Healthy);
  system.OnComponentHealthChange("hde", HealthStatus::Degraded);
  for (const char* id : {"0", "1", "2", "3"}) amst.OnStreamStart(id);
  amst.OnStreamStartFailed("4");
  amst.OnStreamData("0", 65544, 0);
  amst.OnStreamData("1", 65544, 128);
  RecordStreamMetrics("2", 4104, 0, "");
  amst.OnStreamData("0", 65544, 0);
  RecordStreamMetrics("2", 0, 0, "connection_reset");
  amst.OnStreamError("3", "timeout");
  amst.OnOperationLatency("send", 0.0042);
  amst.OnOperationLatency("send", 0.3);
  amst.OnBandwidthUpdate(750000000, 1000000000);
  hde.OnCompressionComplete("vm_memory", 1 << 20, 1 << 17, false);
  RecordCompressionMetrics("vm_memory", 1 << 20, 1 << 15, true);
  hde.OnCompressionComplete("vm_disk", 4 << 20, 3 << 20, true);
  hde.OnCompressionComplete("vm_memory", 1 << 20, 1 << 14, true);
  hde.OnDecompressionComplete(true);
  hde.OnDecompressionComplete(true);
  hde.OnDecompressionComplete(false);
  hde.OnBaselineUpdate("vm_state", 12);
  hde.OnBaselineUpdate("disk_block", 3);
  hde.OnDictionaryUpdate(23.5);
  migration.OnMigrationStart("mig-1");
  migration.OnMigrationStart("mig-2");
  amst.OnStreamEnd("1");
  migration.OnMigrationComplete("mig-1", "node-b", true);
  migration.OnMigrationComplete("mig-2", "node-c", false);
  migration.OnSpeedupCalculated("large_vm", 8.5);
  federation.OnFederationSync("cluster-eu", "state", 0.12, 1 << 20);
  RecordFederationSync("cluster-us", "baseline", 0.5, 0);
  RecordComponentHealth("hde", true);
  amst.OnStreamEnd("0");
  amst.OnSessionClosed();
}

// The sample lines of the dwcp_* families (not dwcp_observer_*), sorted: what the paths must
// agree on.
inline std::vector<std::string> dwcp_series_lines(const std::string& exposition) {
  std::vector<std::string> lines;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("dwcp_", 0) == 0 && line.rfind("dwcp_observer_", 0) != 0) lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

}  // namespace dwcp::testing
