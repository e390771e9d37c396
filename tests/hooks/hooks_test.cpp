// The hook API while initialised: every call lands in its series, bad input is clamped and
// counted, the C ABI matches the C++ one, concurrent callers lose nothing.
#include "dwcp_observer/hooks.h"
#include "dwcp_observer/hooks_c.h"
#include "test_util.h"
#include "text_value.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

namespace dwcp {
namespace {

using testing::http_get;
using testing::text_value;

class InitializedLibrary : public ::testing::Environment {
 public:
  void SetUp() override {
    MetricsConfig config;
    config.cluster = "c1";
    config.node = "n1";
    config.listen_address = "127.0.0.1:0";
    Status status = InitializeMetrics(config);
    ASSERT_TRUE(status.ok) << status.message;
  }
  void TearDown() override { ShutdownMetrics(); }
};
const auto* const environment = ::testing::AddGlobalTestEnvironment(new InitializedLibrary);

std::string series(const std::string& family, const std::string& labels = "") {
  return family + "{cluster=\"c1\",node=\"n1\"" + (labels.empty() ? "" : "," + labels) + "}";
}

double value(const std::string& name, double missing = -1) { return text_value(MetricsText(), name).value_or(missing); }

double invalid(const std::string& reason) {
  return value("dwcp_observer_invalid_events_total{reason=\"" + reason + "\"}", 0);
}

TEST(Hooks, EveryWrapperCallLandsInItsFamily) {
  AMSTMetricsWrapper amst;
  HDEMetricsWrapper hde;
  MigrationMetricsWrapper migration;
  SystemMetricsWrapper system;
  amst.OnStreamStart("w1");
  amst.OnStreamData("w1", 300, 200);
  amst.OnStreamError("w1", "w_timeout");
  amst.OnBandwidthUpdate(30, 120);
  amst.OnOperationLatency("w_send", 0.5);
  hde.OnCompressionComplete("w_type", 1000, 100, true);
  hde.OnBaselineUpdate("w_base", 9);
  hde.OnDictionaryUpdate(12.5);
  migration.OnMigrationStart("w_m");
  migration.OnMigrationComplete("w_m", "w_dest", true);
  migration.OnSpeedupCalculated("w_vm", 3.5);
  system.OnComponentHealthChange("w_comp", HealthStatus::Degraded);
  system.OnFeatureToggle("w_feat", true);
  RecordFederationSync("w_remote", "state", 0.05, 4096);
  const std::string text = MetricsText();
  EXPECT_EQ(text_value(text, series("dwcp_amst_bytes_sent_total", "stream_id=\"w1\"")), 300);
  EXPECT_EQ(text_value(text, series("dwcp_amst_bytes_received_total", "stream_id=\"w1\"")), 200);
  EXPECT_EQ(text_value(text, series("dwcp_amst_errors_total", "error_type=\"w_timeout\"")), 1);
  EXPECT_EQ(text_value(text, series("dwcp_amst_bandwidth_utilization_percent")), 25);
  EXPECT_EQ(text_value(text, series("dwcp_amst_latency_seconds_count", "operation=\"w_send\"")), 1);
  EXPECT_EQ(text_value(text, series("dwcp_hde_bytes_original_total", "data_type=\"w_type\"")), 1000);
  EXPECT_EQ(text_value(text, series("dwcp_hde_baseline_count", "baseline_type=\"w_base\"")), 9);
  EXPECT_EQ(text_value(text, series("dwcp_hde_dictionary_efficiency_percent")), 12.5);
  EXPECT_EQ(text_value(text,
                       "dwcp_migration_duration_seconds_count{cluster=\"c1\",source_node=\"n1\","
                       "dest_node=\"w_dest\",dwcp_enabled=\"true\"}"),
            1);
  EXPECT_EQ(text_value(text, "dwcp_migration_speedup_factor{cluster=\"c1\",vm_type=\"w_vm\"}"), 3.5);
  EXPECT_EQ(text_value(text, series("dwcp_system_component_health", "component=\"w_comp\"")), 1);
  EXPECT_EQ(text_value(text, series("dwcp_system_config_enabled", "feature=\"w_feat\"")), 1);
  EXPECT_EQ(text_value(text,
                       "dwcp_federation_bandwidth_saved_bytes_total{cluster=\"c1\","
                       "remote_cluster=\"w_remote\"}"),
            4096);
  amst.OnStreamEnd("w1");
}

TEST(Hooks, NegativeSizesAreClampedAndCounted) {
  const double before = invalid("negative_value");
  AMSTMetricsWrapper().OnStreamData("neg", -5, 7);
  HDEMetricsWrapper().OnCompressionComplete("neg_type", -100, 10, false);
  HDEMetricsWrapper().OnBaselineUpdate("neg_base", -3);
  RecordFederationSync("neg_remote", "state", -1.0, -10);
  EXPECT_EQ(value(series("dwcp_amst_bytes_sent_total", "stream_id=\"neg\"")), 0);
  EXPECT_EQ(value(series("dwcp_amst_bytes_received_total", "stream_id=\"neg\"")), 7);
  EXPECT_EQ(value(series("dwcp_hde_bytes_original_total", "data_type=\"neg_type\"")), 0);
  EXPECT_EQ(value(series("dwcp_hde_baseline_count", "baseline_type=\"neg_base\"")), 0);
  EXPECT_EQ(invalid("negative_value"), before + 5);
}

TEST(Hooks, EmptyAndNullIdsBecomeUnknownAndAreCounted) {
  const double before = invalid("empty_id");
  const double unknown_before = value(series("dwcp_amst_bytes_sent_total", "stream_id=\"unknown\""), 0);
  AMSTMetricsWrapper().OnStreamData("", 11, 0);
  dwcp_on_stream_data(nullptr, 11, 0);
  dwcp_on_stream_error(nullptr, nullptr);
  dwcp_on_component_health_change(nullptr, 9);
  dwcp_set_version_info(nullptr, nullptr, nullptr);
  EXPECT_EQ(value(series("dwcp_amst_bytes_sent_total", "stream_id=\"unknown\"")), unknown_before + 22);
  EXPECT_GE(invalid("empty_id"), before + 5);
  EXPECT_GE(invalid("status_out_of_range"), 1);
  EXPECT_EQ(value(series("dwcp_system_component_health", "component=\"unknown\"")), 2);
}

TEST(Hooks, UnmatchedEndsAreIgnoredAndCounted) {
  const double closes = invalid("close_without_open");
  const double completes = invalid("complete_without_start");
  AMSTMetricsWrapper().OnStreamEnd("never-started");
  MigrationMetricsWrapper().OnMigrationComplete("never-started", "x", true);
  EXPECT_EQ(invalid("close_without_open"), closes + 1);
  EXPECT_EQ(invalid("complete_without_start"), completes + 1);
}

TEST(Hooks, OneShotHelpersFollowTheOriginal) {
  RecordStreamMetrics("h1", 50, 60, "");
  RecordStreamMetrics("h1", 50, 60, "h_broken");  // an error type: error only, no bytes
  RecordComponentHealth("h_comp", false);
  RecordCompressionMetrics("h_type", 400, 100, false);
  EXPECT_EQ(value(series("dwcp_amst_bytes_sent_total", "stream_id=\"h1\"")), 50);
  EXPECT_EQ(value(series("dwcp_amst_errors_total", "error_type=\"h_broken\"")), 1);
  EXPECT_EQ(value(series("dwcp_system_component_health", "component=\"h_comp\"")), 0);
  EXPECT_EQ(value(series("dwcp_hde_compression_ratio_bucket", "data_type=\"h_type\",le=\"4\"")), 1);
  EXPECT_EQ(value(series("dwcp_hde_compression_ratio_bucket", "data_type=\"h_type\",le=\"3\"")), 0);
}

TEST(Hooks, TheCInterfaceMatchesTheCppOne) {
  dwcp_on_stream_start("c-1");
  dwcp_on_stream_data("c-1", 1, 2);
  dwcp_record_stream_metrics("c-1", 1, 2, "");
  dwcp_on_compression_complete("c_type", 90, 30, 1);
  dwcp_record_compression_metrics("c_type", 90, 30, 0);
  dwcp_on_decompression_complete(0);
  dwcp_on_feature_toggle("c_feat", 0);
  dwcp_record_component_health("c_comp", 1);
  dwcp_on_federation_sync("c_remote", "baseline", 0.02, 5);
  dwcp_on_stream_end("c-1");
  EXPECT_EQ(value(series("dwcp_amst_bytes_received_total", "stream_id=\"c-1\"")), 4);
  EXPECT_EQ(value(series("dwcp_hde_bytes_compressed_total", "data_type=\"c_type\"")), 60);
  EXPECT_GE(value(series("dwcp_hde_operations_total", "operation=\"decode\",result=\"failure\"")), 1);
  EXPECT_EQ(value(series("dwcp_system_config_enabled", "feature=\"c_feat\"")), 0);
  EXPECT_EQ(value(series("dwcp_system_component_health", "component=\"c_comp\"")), 2);
  const size_t size = dwcp_metrics_text(nullptr, 0);
  EXPECT_GT(size, 1000u);
  std::string buffer(size + 1, '\0');
  EXPECT_EQ(dwcp_metrics_text(buffer.data(), buffer.size()), size);
  EXPECT_NE(buffer.find("dwcp_amst_streams_active"), std::string::npos);
  char tiny[8];
  EXPECT_EQ(dwcp_metrics_text(tiny, sizeof(tiny)), size);
  EXPECT_EQ(std::string(tiny).size(), 7u);  // truncated, NUL-terminated
  EXPECT_EQ(dwcp_metrics_active(), 1);
  EXPECT_GT(dwcp_metrics_port(), 0);
  // A second init while active is not an error: the running model and server stay.
  EXPECT_EQ(dwcp_initialize_metrics_at("c1", "n1", ""), DWCP_OK);
}

TEST(Hooks, ConcurrentCallersLoseNothingWhileScraped) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done) http_get(MetricsPort(), "/metrics");
  });
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t)
    callers.emplace_back([t] {
      AMSTMetricsWrapper amst;
      HDEMetricsWrapper hde;
      const std::string id = "mt" + std::to_string(t % 2);
      for (int i = 0; i < kCalls; ++i) {
        amst.OnStreamData(id, 2, 1);
        hde.OnCompressionComplete("mt_type", 20, 10, i % 2 == 0);
      }
    });
  for (auto& caller : callers) caller.join();
  done = true;
  scraper.join();
  const auto scraped = http_get(MetricsPort(), "/metrics");
  ASSERT_EQ(scraped.status, 200);
  EXPECT_EQ(text_value(scraped.body, series("dwcp_amst_bytes_sent_total", "stream_id=\"mt0\"")),
            2.0 * kCalls * kThreads / 2);
  EXPECT_EQ(text_value(scraped.body, series("dwcp_hde_bytes_original_total", "data_type=\"mt_type\"")),
            20.0 * kCalls * kThreads);
  for (const char* path : {"/-/healthy", "/health", "/-/ready", "/ready", "/"})
    EXPECT_EQ(http_get(MetricsPort(), path).status, 200) << path;
}

}  // namespace
}  // namespace dwcp
