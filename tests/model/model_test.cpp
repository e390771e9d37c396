// Unit tests of the metrics model: families, label sets, buckets, derived gauges, cardinality
// cap, invalid input, removal, concurrency.
#include "dwcp_observer/model.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <thread>

namespace dwcp {
namespace {

using testing::find_family;
using testing::find_metric;
using testing::LabelMap;
using testing::value_of;

ModelOptions options(std::size_t max_label_values = 64) {
  ModelOptions o;
  o.cluster = "c1";
  o.node = "n1";
  o.max_label_values = max_label_values;
  return o;
}

// A clock the test moves by hand.
struct ManualClock {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>();
  void advance(double seconds) {
    *now += std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  std::function<std::chrono::steady_clock::time_point()> fn() const {
    auto n = now;
    return [n] { return *n; };
  }
};

std::vector<double> bounds_of(const prometheus::ClientMetric& metric) {
  std::vector<double> bounds;
  for (const auto& bucket : metric.histogram.bucket) bounds.push_back(bucket.upper_bound);
  return bounds;
}

std::uint64_t bucket_count(const prometheus::ClientMetric& metric, double le) {
  for (const auto& bucket : metric.histogram.bucket)
    if (bucket.upper_bound == le) return bucket.cumulative_count;
  ADD_FAILURE() << "no bucket le=" << le;
  return 0;
}

TEST(ModelFamilies, TheCatalogueNamesTypesLabelsAndBuckets) {
  std::size_t count = 0;
  const char* const* names = dwcp_family_names(&count);
  ASSERT_EQ(count, 21u);
  EXPECT_STREQ(names[0], "dwcp_amst_streams_active");
  EXPECT_STREQ(names[20], "dwcp_system_version_info");

  // The catalogue, restated independently of the implementation's table.
  struct Expected {
    const char* name;
    const char* type;
    std::vector<std::string> labels;
  };
  const std::vector<Expected> catalogue = {
      {"dwcp_amst_streams_active", "gauge", {"cluster", "node"}},
      {"dwcp_amst_streams_total", "counter", {"cluster", "node", "result"}},
      {"dwcp_amst_bytes_sent_total", "counter", {"cluster", "node", "stream_id"}},
      {"dwcp_amst_bytes_received_total", "counter", {"cluster", "node", "stream_id"}},
      {"dwcp_amst_errors_total", "counter", {"cluster", "node", "error_type"}},
      {"dwcp_amst_latency_seconds", "histogram", {"cluster", "node", "operation"}},
      {"dwcp_amst_bandwidth_utilization_percent", "gauge", {"cluster", "node"}},
      {"dwcp_hde_compression_ratio", "histogram", {"cluster", "node", "data_type"}},
      {"dwcp_hde_operations_total", "counter", {"cluster", "node", "operation", "result"}},
      {"dwcp_hde_delta_hit_rate_percent", "gauge", {"cluster", "node"}},
      {"dwcp_hde_baseline_count", "gauge", {"cluster", "node", "baseline_type"}},
      {"dwcp_hde_dictionary_efficiency_percent", "gauge", {"cluster", "node"}},
      {"dwcp_hde_bytes_original_total", "counter", {"cluster", "node", "data_type"}},
      {"dwcp_hde_bytes_compressed_total", "counter", {"cluster", "node", "data_type"}},
      {"dwcp_migration_duration_seconds", "histogram", {"cluster", "source_node", "dest_node", "dwcp_enabled"}},
      {"dwcp_migration_speedup_factor", "gauge", {"cluster", "vm_type"}},
      {"dwcp_federation_sync_duration_seconds", "histogram", {"cluster", "remote_cluster", "sync_type"}},
      {"dwcp_federation_bandwidth_saved_bytes_total", "counter", {"cluster", "remote_cluster"}},
      {"dwcp_system_component_health", "gauge", {"cluster", "node", "component"}},
      {"dwcp_system_config_enabled", "gauge", {"cluster", "node", "feature"}},
      {"dwcp_system_version_info", "gauge", {"cluster", "version", "git_commit", "build_date"}},
  };
  const auto& families = model_families();
  ASSERT_EQ(families.size(), 23u);  // + the model's two dwcp_observer_* families
  for (std::size_t i = 0; i < catalogue.size(); ++i) {
    EXPECT_EQ(families[i].name, catalogue[i].name);
    EXPECT_EQ(families[i].name, names[i]);
    EXPECT_EQ(families[i].type, catalogue[i].type) << catalogue[i].name;
    EXPECT_EQ(families[i].labels, catalogue[i].labels) << catalogue[i].name;
  }
  EXPECT_EQ(families[21].name, "dwcp_observer_labels_overflow_total");
  EXPECT_EQ(families[22].name, "dwcp_observer_invalid_events_total");

  // The seed's boundaries are all kept (a seed dashboard's le="…" still finds its bucket); ours
  // add the ones real values need, ascending, up to a bound that real values stay under.
  std::vector<double> latency, migration, federation;
  for (int k = 0; k < 12; ++k) latency.push_back(0.001 * std::pow(2.0, k));
  for (int k = 0; k < 10; ++k) migration.push_back(std::pow(2.0, k));
  for (int k = 0; k < 10; ++k) federation.push_back(0.01 * std::pow(2.0, k));
  const std::vector<double> ratio{1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50};
  const struct {
    std::size_t index;
    const std::vector<double>& seed;
    double reaches;
  } extended[] = {{5, latency, 3600}, {7, ratio, 10000}, {14, migration, 3600}, {16, federation, 60}};
  for (const auto& family : extended) {
    const auto& ours = families[family.index].buckets;
    SCOPED_TRACE(families[family.index].name);
    EXPECT_TRUE(std::is_sorted(ours.begin(), ours.end()));
    for (double bound : family.seed) EXPECT_NE(std::find(ours.begin(), ours.end(), bound), ours.end()) << bound;
    ASSERT_FALSE(ours.empty());
    EXPECT_GE(ours.back(), family.reaches);
  }
}

TEST(ModelFamilies, EveryFamilyIsPresentFromTheFirstScrapeWithKnownSeriesAtZero) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  const auto families = registry->Collect();
  ASSERT_EQ(families.size(), 23u);
  for (std::size_t i = 0; i < families.size(); ++i) {
    EXPECT_EQ(families[i].name, model_families()[i].name);
    EXPECT_FALSE(families[i].help.empty());
  }
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active", {{"cluster", "c1"}, {"node", "n1"}}), 0);
  for (const char* result : {"success", "failure"})
    EXPECT_EQ(value_of(families, "dwcp_amst_streams_total", {{"result", result}}), 0) << result;
  for (const char* op : {"compress", "decompress", "encode", "decode"})
    for (const char* result : {"success", "failure"})
      EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", op}, {"result", result}}), 0)
          << op << " " << result;
  const auto* latency = find_metric(families, "dwcp_amst_latency_seconds", {{"operation", "stream_duration"}});
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->histogram.sample_count, 0u);
  EXPECT_EQ(latency->histogram.bucket.size(), model_families()[5].buckets.size() + 1);  // + +Inf
  EXPECT_TRUE(std::isinf(latency->histogram.bucket.back().upper_bound));
  EXPECT_EQ(value_of(families, "dwcp_observer_labels_overflow_total", {{"label", "stream_id"}}), 0);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "empty_id"}}), 0);
  // Gauges with no data yet have no series (a 0 would fire the low-utilization/low-hit-rate
  // alerts at every start).
  EXPECT_FALSE(value_of(families, "dwcp_hde_delta_hit_rate_percent").has_value());
  EXPECT_FALSE(value_of(families, "dwcp_amst_bandwidth_utilization_percent").has_value());
}

TEST(ModelFamilies, EverySeriesCarriesTheFamilyLabelsThenTheTargetLabels) {
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions o = options();
  o.target_labels = {{"target", "dwcp@42"}};
  MetricsModel model(registry, o);
  model.apply(StreamOpened{"s", true});
  model.apply(StreamBytes{"s", 1, 1});
  model.apply(StreamError{"s", "timeout"});
  model.apply(Latency{"send", 0.01});
  model.apply(BandwidthUpdate{1, 2});
  model.apply(CompressionDone{"vm_memory", 10, 5, true});
  model.apply(BaselineCount{"vm_state", 1});
  model.apply(DictionaryEfficiency{10});
  model.apply(MigrationCompleted{"m", "node-b", true, 3});
  model.apply(SpeedupCalculated{"large_vm", 2});
  model.apply(FederationSync{"eu", "state", 0.1, 5});
  model.apply(ComponentHealth{"amst", 2});
  model.apply(FeatureToggle{"hde", true});
  model.apply(VersionInfo{"1", "abc", "today"});
  const auto families = registry->Collect();
  for (const FamilyInfo& info : model_families()) {
    const auto* family = find_family(families, info.name);
    ASSERT_NE(family, nullptr) << info.name;
    ASSERT_FALSE(family->metric.empty()) << info.name << " has no series after its event";
    for (const auto& metric : family->metric) {
      std::vector<std::string> names;
      for (const auto& label : metric.label) names.push_back(label.name);
      std::vector<std::string> expected = info.labels;
      expected.push_back("target");
      EXPECT_EQ(names, expected) << info.name;
    }
  }
  EXPECT_EQ(value_of(families, "dwcp_migration_duration_seconds_missing"), std::nullopt);
  const auto* migration =
      find_metric(families, "dwcp_migration_duration_seconds",
                  {{"cluster", "c1"}, {"source_node", "n1"}, {"dest_node", "node-b"}, {"dwcp_enabled", "true"}});
  ASSERT_NE(migration, nullptr);
}

TEST(ModelFamilies, TargetLabelsMustBeValidAndDistinctFromFamilyLabels) {
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions clash = options();
  clash.target_labels = {{"node", "x"}};
  EXPECT_THROW(MetricsModel(registry, clash), std::invalid_argument);
  ModelOptions invalid = options();
  invalid.target_labels = {{"1target", "x"}};
  EXPECT_THROW(MetricsModel(registry, invalid), std::invalid_argument);
  EXPECT_EQ(registry->model_count(), 0u);
}

TEST(ModelDerived, DeltaHitRateIsHitsOverCompressions) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.compression_done("vm_memory", 100, 10, true);
  model.compression_done("vm_memory", 100, 10, true);
  model.apply(CompressionDone{"vm_disk", 100, 50, true});  // operation "compress" (BPF: HDE.Compress*)
  model.compression_done("vm_disk", 100, 50, false);
  auto families = registry->Collect();
  EXPECT_DOUBLE_EQ(*value_of(families, "dwcp_hde_delta_hit_rate_percent"), 75.0);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "encode"}, {"result", "success"}}), 3);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "compress"}, {"result", "success"}}), 1);
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_original_total", {{"data_type", "vm_disk"}}), 200);
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_compressed_total", {{"data_type", "vm_disk"}}), 100);
  // A failed compression counts as a failure and is neither hit nor miss.
  CompressionDone failed{"vm_disk", 0, 0, false};
  failed.success = false;
  model.apply(failed);
  families = registry->Collect();
  EXPECT_DOUBLE_EQ(*value_of(families, "dwcp_hde_delta_hit_rate_percent"), 75.0);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "compress"}, {"result", "failure"}}), 1);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "encode"}, {"result", "failure"}}), 0);
}

TEST(ModelDerived, AFailedCompressionCountsTheInputItWasGivenAndNothingElse) {
  // DWCP's HDE adds len(input) to its original bytes on entry, also for a call that then fails.
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.compression_done("vm_disk", 100, 50, true);
  CompressionDone failed{"vm_disk", 4096, 0, false};
  failed.success = false;
  failed.delta_known = false;
  model.apply(failed);
  const auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_original_total", {{"data_type", "vm_disk"}}), 4196);
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_compressed_total", {{"data_type", "vm_disk"}}), 50);
  const auto* ratio = find_metric(families, "dwcp_hde_compression_ratio", {{"data_type", "vm_disk"}});
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(ratio->histogram.sample_count, 1u);  // the failed call is no ratio observation
  EXPECT_DOUBLE_EQ(*value_of(families, "dwcp_hde_delta_hit_rate_percent"), 100.0);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "compress"}, {"result", "failure"}}), 1);
}

TEST(ModelDerived, CompressionRatioIsOriginalOverCompressed) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.compression_done("vm_memory", 1 << 20, 1 << 17, false);  // ratio 8
  const auto families = registry->Collect();
  const auto* ratio = find_metric(families, "dwcp_hde_compression_ratio", {{"data_type", "vm_memory"}});
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(bucket_count(*ratio, 7), 0u);
  EXPECT_EQ(bucket_count(*ratio, 10), 1u);
  EXPECT_DOUBLE_EQ(ratio->histogram.sample_sum, 8.0);
  EXPECT_EQ(bounds_of(*ratio).size(), model_families()[7].buckets.size() + 1);  // + +Inf
}

TEST(ModelDerived, BandwidthUtilizationIsUsedOverAvailable) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.apply(BandwidthUpdate{250, 1000});
  EXPECT_DOUBLE_EQ(*value_of(registry->Collect(), "dwcp_amst_bandwidth_utilization_percent"), 25.0);
  model.apply(BandwidthUpdate{250, 0});  // nothing available: 0, not infinity
  EXPECT_DOUBLE_EQ(*value_of(registry->Collect(), "dwcp_amst_bandwidth_utilization_percent"), 0.0);
}

// DWCP's own figures where the agent reads them: a session's activeStreams replaces its open
// streams in the gauge (the health check lowers it without a close); the encoder's totals count
// encodes and hits, and an Encode event whose operation they count adds sizes and a ratio only.
TEST(ModelDerived, DwcpsOwnActiveStreamsAndEncoderTotals) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  for (const char* id : {"0", "1", "2"}) model.apply(StreamOpened{id, true, 0x10});
  model.apply(StreamOpened{"0", true, 0x20});
  model.apply(ActiveStreams{0x10, 1});
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 1 + 1);
  model.apply(SessionClosed{0x10});
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 1);
  model.apply(ActiveStreams{0x30, -4});  // nonsense is clamped and counted
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 1);

  model.apply(EncoderTotals{14, 7});
  CompressionDone done;
  done.data_type = "delta";
  done.operation = "encode";
  done.original_bytes = 4000;
  done.compressed_bytes = 1000;
  done.delta_hit = true;
  done.operation_counted = true;
  model.apply(done);
  const auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "encode"}, {"result", "success"}}), 14);
  EXPECT_EQ(value_of(families, "dwcp_hde_delta_hit_rate_percent"), 50);
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_original_total", {{"data_type", "delta"}}), 4000);
  const auto* ratio = find_metric(families, "dwcp_hde_compression_ratio", {{"data_type", "delta"}});
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(ratio->histogram.sample_count, 1u);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "negative_value"}}), 1);
}

TEST(ModelDerived, ActiveStreamsAreOpenedMinusClosed) {
  ManualClock clock;
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions o = options();
  o.clock = clock.fn();
  MetricsModel model(registry, o);
  for (const char* id : {"1", "2", "3"}) model.apply(StreamOpened{id, true});
  model.apply(StreamOpened{"4", false});
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 3);
  clock.advance(0.003);
  model.apply(StreamClosed{"2"});
  auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 2);
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_total", {{"result", "success"}}), 3);
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_total", {{"result", "failure"}}), 1);
  const auto* duration = find_metric(families, "dwcp_amst_latency_seconds", {{"operation", "stream_duration"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->histogram.sample_count, 1u);
  EXPECT_EQ(bucket_count(*duration, 0.002), 0u);
  EXPECT_EQ(bucket_count(*duration, 0.004), 1u);

  model.apply(AllStreamsClosed{});
  families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 0);
  EXPECT_EQ(
      find_metric(families, "dwcp_amst_latency_seconds", {{"operation", "stream_duration"}})->histogram.sample_count,
      3u);
  model.apply(StreamClosed{"9"});  // never opened: ignored, counted
  families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 0);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "close_without_open"}}), 1);
}

// Issue 13: a stream id is an index inside one AMST session; sessions are the identity.
TEST(ModelSessions, CollidingIdsStayApartAndCloseEndsOnlyItsSession) {
  ManualClock clock;
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions o = options();
  o.clock = clock.fn();
  MetricsModel model(registry, o);
  const std::uint64_t a = 0xc000100000, b = 0xc000200000, never = 0xc000300000;
  for (std::uint64_t session : {a, b})
    for (const char* id : {"0", "1", "2"}) model.apply(StreamOpened{id, true, session});
  auto duration_count = [&] {
    return find_metric(registry->Collect(), "dwcp_amst_latency_seconds", {{"operation", "stream_duration"}})
        ->histogram.sample_count;
  };
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 6);
  clock.advance(0.003);
  model.apply(SessionClosed{a});
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 3);
  EXPECT_EQ(duration_count(), 3u);
  model.apply(SessionClosed{never});  // a session that never started: nothing to close
  model.apply(SessionClosed{a});      // Close twice: nothing left
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 3);
  EXPECT_EQ(duration_count(), 3u);
  model.apply(StreamClosed{"1", b});
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_amst_streams_active"), 2);
  EXPECT_EQ(duration_count(), 4u);
  model.apply(StreamClosed{"1", a});  // already closed with its session
  EXPECT_EQ(value_of(registry->Collect(), "dwcp_observer_invalid_events_total", {{"reason", "close_without_open"}}), 1);
}

TEST(ModelSessions, AdoptedStreamsAreActiveButNeitherCountedNorTimed) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  const std::uint64_t running = 0xc000400000, fresh = 0xc000500000;
  model.apply(StreamsAdopted{running, {"0", "1", "2", "3"}});
  model.apply(StreamsAdopted{running, {"0", "1"}});  // seen again: nothing changes
  auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 4);
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_total", {{"result", "success"}}), 0);
  // A session first seen while Start runs: adopted, then its createStream events arrive; those
  // count and are timed as usual.
  model.apply(StreamsAdopted{fresh, {"0"}});
  model.apply(StreamOpened{"0", true, fresh});
  model.apply(StreamOpened{"1", true, fresh});
  families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 6);
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_total", {{"result", "success"}}), 2);
  model.apply(SessionClosed{running});
  model.apply(SessionClosed{fresh});
  families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), 0);
  EXPECT_EQ(
      find_metric(families, "dwcp_amst_latency_seconds", {{"operation", "stream_duration"}})->histogram.sample_count,
      2u);
}

TEST(ModelMigration, DurationGivenBySourceOrMeasuredFromTheStart) {
  ManualClock clock;
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions o = options();
  o.clock = clock.fn();
  MetricsModel model(registry, o);
  model.apply(MigrationCompleted{"bpf-1", "node-b", true, 3.0});  // measured by the source
  model.apply(MigrationStarted{"hook-1"});
  clock.advance(100);
  model.apply(MigrationCompleted{"hook-1", "node-b", true, -1});
  model.apply(MigrationCompleted{"never-started", "node-b", false, -1});
  const auto families = registry->Collect();
  const auto* with = find_metric(families, "dwcp_migration_duration_seconds",
                                 {{"source_node", "n1"}, {"dest_node", "node-b"}, {"dwcp_enabled", "true"}});
  ASSERT_NE(with, nullptr);
  EXPECT_EQ(with->histogram.sample_count, 2u);
  EXPECT_DOUBLE_EQ(with->histogram.sample_sum, 103.0);
  EXPECT_EQ(bucket_count(*with, 2), 0u);
  EXPECT_EQ(bucket_count(*with, 4), 1u);
  EXPECT_EQ(bucket_count(*with, 128), 2u);
  EXPECT_EQ(find_metric(families, "dwcp_migration_duration_seconds", {{"dwcp_enabled", "false"}}), nullptr);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "complete_without_start"}}), 1);
}

TEST(ModelCardinality, ExcessValuesFoldIntoOtherAndAreCounted) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options(3));
  for (int i = 0; i < 10; ++i) model.stream_bytes("stream-" + std::to_string(i), 10, 1);
  for (int i = 0; i < 10; ++i) model.stream_bytes("stream-" + std::to_string(i), 10, 1);
  for (int i = 0; i < 5; ++i) model.apply(StreamError{"s", "error-" + std::to_string(i)});
  const auto families = registry->Collect();
  const auto* sent = find_family(families, "dwcp_amst_bytes_sent_total");
  ASSERT_EQ(sent->metric.size(), 4u);  // 3 kept + "other"
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"stream_id", "stream-0"}}), 20);
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"stream_id", "other"}}), 140);
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_received_total", {{"stream_id", "other"}}), 14);
  EXPECT_EQ(value_of(families, "dwcp_observer_labels_overflow_total", {{"label", "stream_id"}}), 14);
  EXPECT_EQ(find_family(families, "dwcp_amst_errors_total")->metric.size(), 4u);
  EXPECT_EQ(value_of(families, "dwcp_amst_errors_total", {{"error_type", "other"}}), 2);
  EXPECT_EQ(value_of(families, "dwcp_observer_labels_overflow_total", {{"label", "error_type"}}), 2);
}

TEST(ModelInvalidInput, IsClampedNamedUnknownAndCounted) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.stream_bytes("", 5, 0);
  model.compression_done("", 10, 0, false);  // no data type, zero compressed size
  model.apply(BaselineCount{"vm_state", -4});
  model.apply(Latency{"send", -1});
  model.apply(ComponentHealth{"hde", 7});
  model.note_invalid("negative_value");
  const auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"stream_id", "unknown"}}), 5);
  EXPECT_EQ(value_of(families, "dwcp_hde_bytes_original_total", {{"data_type", "unknown"}}), 10);
  EXPECT_EQ(find_metric(families, "dwcp_hde_compression_ratio", {{"data_type", "unknown"}})->histogram.sample_count,
            0u);
  EXPECT_EQ(value_of(families, "dwcp_hde_baseline_count", {{"baseline_type", "vm_state"}}), 0);
  EXPECT_EQ(value_of(families, "dwcp_system_component_health", {{"component", "hde"}}), 2);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "empty_id"}}), 2);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "negative_value"}}), 3);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "zero_compressed_size"}}), 1);
  EXPECT_EQ(value_of(families, "dwcp_observer_invalid_events_total", {{"reason", "status_out_of_range"}}), 1);
}

TEST(ModelVersion, ANewVersionReplacesThePreviousSeries) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options());
  model.apply(VersionInfo{"1.0", "aaa", "d1"});
  model.apply(VersionInfo{"1.1", "bbb", "d2"});
  const auto families = registry->Collect();
  const auto* version = find_family(families, "dwcp_system_version_info");
  ASSERT_EQ(version->metric.size(), 1u);
  EXPECT_EQ(value_of(families, "dwcp_system_version_info", {{"version", "1.1"}, {"git_commit", "bbb"}}), 1);
}

TEST(ModelRegistry, ModelsShareFamiliesAndRemoveDropsOnlyTheirSeries) {
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions a = options();
  a.target_labels = {{"target", "a"}};
  ModelOptions b = options();
  b.target_labels = {{"target", "b"}};
  MetricsModel model_a(registry, a);
  MetricsModel model_b(registry, b);
  model_a.stream_bytes("0", 10, 0);
  model_b.stream_bytes("0", 20, 0);
  std::string text = render_text({registry});
  EXPECT_EQ(text.find("# TYPE dwcp_amst_bytes_sent_total"), text.rfind("# TYPE dwcp_amst_bytes_sent_total"))
      << "a family must be written once whatever the number of models";
  auto families = registry->Collect();
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"target", "a"}}), 10);
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"target", "b"}}), 20);

  model_a.remove();
  model_a.stream_bytes("0", 5, 0);  // still safe after removal, just not exported
  families = registry->Collect();
  EXPECT_FALSE(value_of(families, "dwcp_amst_bytes_sent_total", {{"target", "a"}}).has_value());
  EXPECT_EQ(value_of(families, "dwcp_amst_bytes_sent_total", {{"target", "b"}}), 20);
  EXPECT_EQ(registry->model_count(), 1u);
  {
    MetricsModel temporary(registry, options());
    EXPECT_EQ(registry->model_count(), 2u);
  }
  EXPECT_EQ(registry->model_count(), 1u);  // the destructor detaches too
}

TEST(ModelConcurrency, UpdatesFromThreadsWhileCollectingAreExact) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, options(4));
  constexpr int kThreads = 4;
  constexpr int kIterations = 50000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done) (void)render_text({registry});
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        model.stream_bytes("s" + std::to_string(i % 8), 3, 1);  // 8 ids, cap 4: half fold
        model.compression_done(i % 2 ? "vm_memory" : "vm_disk", 40, 10, (i % 4) == 0);
        if (i % 1000 == 0) model.apply(StreamOpened{"t" + std::to_string(t), true});
      }
    });
  }
  for (auto& worker : workers) worker.join();
  done = true;
  scraper.join();
  const auto families = registry->Collect();
  double sent = 0;
  for (const auto& metric : find_family(families, "dwcp_amst_bytes_sent_total")->metric) sent += metric.counter.value;
  EXPECT_EQ(sent, 3.0 * kThreads * kIterations);
  EXPECT_EQ(value_of(families, "dwcp_hde_operations_total", {{"operation", "encode"}, {"result", "success"}}),
            kThreads * kIterations);
  EXPECT_DOUBLE_EQ(*value_of(families, "dwcp_hde_delta_hit_rate_percent"), 25.0);
  const auto* ratio = find_metric(families, "dwcp_hde_compression_ratio", {{"data_type", "vm_disk"}});
  EXPECT_EQ(ratio->histogram.sample_count, static_cast<std::uint64_t>(kThreads * kIterations / 2));
  EXPECT_DOUBLE_EQ(ratio->histogram.sample_sum, 4.0 * kThreads * kIterations / 2);
  EXPECT_EQ(value_of(families, "dwcp_observer_labels_overflow_total", {{"label", "stream_id"}}),
            kThreads * kIterations / 2);
  EXPECT_EQ(value_of(families, "dwcp_amst_streams_active"), kThreads);
}

}  // namespace
}  // namespace dwcp
