// The catalogue: every family the model exports (name, type, labels, buckets, help), written once
// as a table indexed by FamilyId, and the fixed label values the model itself knows.
#pragma once

#include <prometheus/metric_type.h>

#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

namespace dwcp::model_detail {

enum class Kind { counter, gauge, histogram };

// Index of each family in the spec table (catalogue order, then the model's observer families).
enum FamilyId : std::size_t {
  kStreamsActive,
  kStreamsTotal,
  kBytesSent,
  kBytesReceived,
  kErrors,
  kLatency,
  kBandwidthUtilization,
  kCompressionRatio,
  kHdeOperations,
  kDeltaHitRate,
  kBaselineCount,
  kDictionaryEfficiency,
  kBytesOriginal,
  kBytesCompressed,
  kMigrationDuration,
  kSpeedupFactor,
  kFederationSyncDuration,
  kFederationBandwidthSaved,
  kComponentHealth,
  kConfigEnabled,
  kVersionInfo,
  kLabelsOverflow,
  kInvalidEvents,
  kFamilyCount
};
constexpr std::size_t kDwcpFamilyCount = kVersionInfo + 1;

struct Spec {
  const char* name;
  Kind kind;
  // Labels whose value is fixed per model (cluster, node, source_node), then labels whose value
  // comes from the event.
  std::vector<std::string> fixed_labels;
  std::vector<std::string> event_labels;
  std::vector<double> buckets;
  const char* help;
};

// The spec of each family, indexed by FamilyId (kFamilyCount entries).
const std::vector<Spec>& specs();

prometheus::MetricType to_prometheus(Kind kind);
const char* type_name(Kind kind);

// Labels whose values come from the observed program and are capped per model.
inline constexpr const char* kCappedLabels[] = {"stream_id",     "error_type", "operation", "data_type",
                                                "baseline_type", "dest_node",  "vm_type",   "remote_cluster",
                                                "sync_type",     "component",  "feature",   "reason"};

// Reasons of dwcp_observer_invalid_events_total the model itself uses (created at zero), indexed
// by InvalidReason.
enum InvalidReason : std::size_t {
  kEmptyId,
  kNegativeValue,
  kNotANumber,
  kZeroCompressedSize,
  kCloseWithoutOpen,
  kCompleteWithoutStart,
  kStatusOutOfRange,
  kTrackingTableFull,
  kCounterOverflow,
  kInvalidReasonCount
};
inline constexpr const char* kInvalidReasons[] = {
    "empty_id",           "negative_value",         "not_a_number",        "zero_compressed_size",
    "close_without_open", "complete_without_start", "status_out_of_range", "tracking_table_full",
    "counter_overflow"};
static_assert(std::size(kInvalidReasons) == kInvalidReasonCount, "one name per InvalidReason");

inline constexpr const char* kOther = "other";
inline constexpr const char* kUnknown = "unknown";

}  // namespace dwcp::model_detail
