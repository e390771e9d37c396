// The C++ side of the cross-language parity test: replays a call script
// (bindings/go/dwcpmetrics/testdata/parity_calls.txt) through the C++ hook API and prints the
// exposition. dwcp-metrics-replay does the same through the Go API; test_gobind.py compares.
//   replay_calls SCRIPT CLUSTER NODE
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "dwcp_observer/hooks.h"

namespace {

using Args = std::vector<std::string>;

std::int64_t i(const std::string& s) { return std::stoll(s); }
double f(const std::string& s) { return std::stod(s); }
bool b(const std::string& s) { return s == "1"; }

// Each call with its argument count, as the Go interpreter knows them.
const std::map<std::string, std::pair<std::size_t, std::function<void(const Args&)>>>& calls() {
  static const dwcp::AMSTMetricsWrapper amst;
  static const dwcp::HDEMetricsWrapper hde;
  static const dwcp::MigrationMetricsWrapper migration;
  static const dwcp::FederationMetricsWrapper federation;
  static const dwcp::SystemMetricsWrapper system;
  static const std::map<std::string, std::pair<std::size_t, std::function<void(const Args&)>>> table = {
      {"OnStreamStart", {1, [](const Args& a) { amst.OnStreamStart(a[0]); }}},
      {"OnStreamStartFailed", {1, [](const Args& a) { amst.OnStreamStartFailed(a[0]); }}},
      {"OnStreamEnd", {1, [](const Args& a) { amst.OnStreamEnd(a[0]); }}},
      {"OnSessionClosed", {0, [](const Args&) { amst.OnSessionClosed(); }}},
      {"OnStreamData", {3, [](const Args& a) { amst.OnStreamData(a[0], i(a[1]), i(a[2])); }}},
      {"OnStreamError", {2, [](const Args& a) { amst.OnStreamError(a[0], a[1]); }}},
      {"OnBandwidthUpdate", {2, [](const Args& a) { amst.OnBandwidthUpdate(i(a[0]), i(a[1])); }}},
      {"OnOperationLatency", {2, [](const Args& a) { amst.OnOperationLatency(a[0], f(a[1])); }}},
      {"OnCompressionComplete", {4, [](const Args& a) { hde.OnCompressionComplete(a[0], i(a[1]), i(a[2]), b(a[3])); }}},
      {"OnDecompressionComplete", {1, [](const Args& a) { hde.OnDecompressionComplete(b(a[0])); }}},
      {"OnBaselineUpdate", {2, [](const Args& a) { hde.OnBaselineUpdate(a[0], i(a[1])); }}},
      {"OnDictionaryUpdate", {1, [](const Args& a) { hde.OnDictionaryUpdate(f(a[0])); }}},
      {"OnMigrationStart", {1, [](const Args& a) { migration.OnMigrationStart(a[0]); }}},
      {"OnMigrationComplete", {3, [](const Args& a) { migration.OnMigrationComplete(a[0], a[1], b(a[2])); }}},
      {"OnSpeedupCalculated", {2, [](const Args& a) { migration.OnSpeedupCalculated(a[0], f(a[1])); }}},
      {"OnFederationSync", {4, [](const Args& a) { federation.OnFederationSync(a[0], a[1], f(a[2]), i(a[3])); }}},
      {"OnComponentHealthChange",
       {2, [](const Args& a) { system.OnComponentHealthChange(a[0], static_cast<dwcp::HealthStatus>(i(a[1]))); }}},
      {"OnFeatureToggle", {2, [](const Args& a) { system.OnFeatureToggle(a[0], b(a[1])); }}},
      {"SetVersionInfo", {3, [](const Args& a) { dwcp::SetVersionInfo(a[0], a[1], a[2]); }}},
      {"RecordStreamMetrics", {4, [](const Args& a) { dwcp::RecordStreamMetrics(a[0], i(a[1]), i(a[2]), a[3]); }}},
      {"RecordCompressionMetrics",
       {4, [](const Args& a) { dwcp::RecordCompressionMetrics(a[0], i(a[1]), i(a[2]), b(a[3])); }}},
      {"RecordComponentHealth", {2, [](const Args& a) { dwcp::RecordComponentHealth(a[0], b(a[1])); }}},
  };
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: replay_calls SCRIPT CLUSTER NODE\n";
    return 2;
  }
  std::ifstream script(argv[1]);
  if (!script) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 2;
  }
  if (!dwcp::InitializeMetrics(argv[2], argv[3], -1)) return 1;
  std::string line;
  for (int n = 1; std::getline(script, line); ++n) {
    std::istringstream words(line);
    std::string name;
    if (!(words >> name) || name[0] == '#') continue;
    Args args;
    for (std::string word; words >> word;) args.push_back(word == "\"\"" ? "" : word);
    auto call = calls().find(name);
    if (call == calls().end() || call->second.first != args.size()) {
      std::cerr << argv[1] << ":" << n << ": unknown call or wrong argument count: " << line << "\n";
      return 2;
    }
    call->second.second(args);
  }
  std::cout << dwcp::MetricsText();
  return 0;
}
