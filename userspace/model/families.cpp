#include "model/families.h"

#include <array>

#include "dwcp_observer/model.h"
#include "model/observer_families.h"

namespace dwcp {
namespace model_detail {

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// The seed's boundaries, every one kept, plus the ones real values need so that quantiles do
// not saturate at the seed's last bucket: a stream's lifetime and a large Send run for minutes
// (latency to 2^22 ms, about 70 min, where the seed stopped at 2.048 s); a delta encode of
// nearly unchanged data compresses far beyond 50; migrations beyond 512 s and federation syncs
// beyond 5.12 s happen on slow links.
std::vector<double> extended(std::vector<double> seed, std::initializer_list<double> more) {
  seed.insert(seed.end(), more);
  return seed;
}

const std::vector<Spec>& specs() {
  // One family per entry, wrapped by hand.
  const observer_families::Family& labels_overflow = observer_families::family(observer_families::Id::kLabelsOverflow);
  const observer_families::Family& invalid_events = observer_families::family(observer_families::Id::kInvalidEvents);
  // clang-format off
  static const Spec table[] = {
      {"dwcp_amst_streams_active", Kind::gauge, {"cluster", "node"}, {}, {},
       "Current number of active AMST streams"},
      {"dwcp_amst_streams_total", Kind::counter, {"cluster", "node"}, {"result"}, {},
       "Total number of AMST streams created"},
      {"dwcp_amst_bytes_sent_total", Kind::counter, {"cluster", "node"}, {"stream_id"}, {},
       "Total bytes sent through AMST streams"},
      {"dwcp_amst_bytes_received_total", Kind::counter, {"cluster", "node"}, {"stream_id"}, {},
       "Total bytes received through AMST streams"},
      {"dwcp_amst_errors_total", Kind::counter, {"cluster", "node"}, {"error_type"}, {},
       "Total AMST stream errors by type"},
      {"dwcp_amst_latency_seconds", Kind::histogram, {"cluster", "node"}, {"operation"},
       exponential_buckets(0.001, 2, 23), "AMST stream latency distribution in seconds"},
      {"dwcp_amst_bandwidth_utilization_percent", Kind::gauge, {"cluster", "node"}, {}, {},
       "Percentage of available bandwidth utilized by AMST"},
      {"dwcp_hde_compression_ratio", Kind::histogram, {"cluster", "node"}, {"data_type"},
       extended({1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50}, {100, 200, 500, 1000, 2000, 5000, 10000}),
       "HDE compression ratio distribution (original/compressed)"},
      {"dwcp_hde_operations_total", Kind::counter, {"cluster", "node"}, {"operation", "result"},
       {}, "Total HDE encode/decode operations"},
      {"dwcp_hde_delta_hit_rate_percent", Kind::gauge, {"cluster", "node"}, {}, {},
       "Percentage of successful delta encoding hits"},
      {"dwcp_hde_baseline_count", Kind::gauge, {"cluster", "node"}, {"baseline_type"}, {},
       "Number of active HDE baselines"},
      {"dwcp_hde_dictionary_efficiency_percent", Kind::gauge, {"cluster", "node"}, {}, {},
       "Dictionary compression improvement percentage"},
      {"dwcp_hde_bytes_original_total", Kind::counter, {"cluster", "node"}, {"data_type"}, {},
       "Total bytes before HDE compression"},
      {"dwcp_hde_bytes_compressed_total", Kind::counter, {"cluster", "node"}, {"data_type"}, {},
       "Total bytes after HDE compression"},
      {"dwcp_migration_duration_seconds", Kind::histogram, {"cluster", "source_node"},
       {"dest_node", "dwcp_enabled"}, exponential_buckets(1, 2, 14),
       "VM migration duration distribution in seconds"},
      {"dwcp_migration_speedup_factor", Kind::gauge, {"cluster"}, {"vm_type"}, {},
       "Migration speedup factor with DWCP enabled (vs standard)"},
      {"dwcp_federation_sync_duration_seconds", Kind::histogram, {"cluster"},
       {"remote_cluster", "sync_type"}, exponential_buckets(0.01, 2, 14),
       "Federation state sync duration in seconds"},
      {"dwcp_federation_bandwidth_saved_bytes_total", Kind::counter, {"cluster"},
       {"remote_cluster"}, {}, "Total bandwidth saved through DWCP compression"},
      {"dwcp_system_component_health", Kind::gauge, {"cluster", "node"}, {"component"}, {},
       "Component health status (0=down, 1=degraded, 2=healthy)"},
      {"dwcp_system_config_enabled", Kind::gauge, {"cluster", "node"}, {"feature"}, {},
       "DWCP configuration enabled status (0=disabled, 1=enabled)"},
      {"dwcp_system_version_info", Kind::gauge, {"cluster"},
       {"version", "git_commit", "build_date"}, {}, "DWCP version information"},
      // The agent's own families, written in its catalogue (model/observer_families.h).
      {labels_overflow.name, Kind::counter, {}, labels_overflow.labels, {}, labels_overflow.help},
      {invalid_events.name, Kind::counter, {}, invalid_events.labels, {}, invalid_events.help},
  };
  // clang-format on
  static_assert(sizeof(table) / sizeof(table[0]) == kFamilyCount, "one spec per FamilyId, in FamilyId order");
  static const std::vector<Spec> list(std::begin(table), std::end(table));
  return list;
}

prometheus::MetricType to_prometheus(Kind kind) {
  switch (kind) {
    case Kind::counter:
      return prometheus::MetricType::Counter;
    case Kind::gauge:
      return prometheus::MetricType::Gauge;
    case Kind::histogram:
      return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

const char* type_name(Kind kind) {
  switch (kind) {
    case Kind::counter:
      return "counter";
    case Kind::gauge:
      return "gauge";
    case Kind::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace model_detail

using namespace model_detail;

const char* const* dwcp_family_names(std::size_t* count) {
  static const auto names = [] {
    std::array<const char*, kDwcpFamilyCount> list{};
    for (std::size_t i = 0; i < kDwcpFamilyCount; ++i) list[i] = specs()[i].name;
    return list;
  }();
  if (count != nullptr) *count = names.size();
  return names.data();
}

const std::vector<FamilyInfo>& model_families() {
  static const std::vector<FamilyInfo> families = [] {
    std::vector<FamilyInfo> list;
    for (const Spec& spec : specs()) {
      FamilyInfo info{spec.name, type_name(spec.kind), spec.fixed_labels, spec.buckets, spec.help};
      info.labels.insert(info.labels.end(), spec.event_labels.begin(), spec.event_labels.end());
      list.push_back(std::move(info));
    }
    return list;
  }();
  return families;
}

}  // namespace dwcp
