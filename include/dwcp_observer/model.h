// The metrics model: the 21 DWCP families (names, types, labels, buckets: docs/metrics.md,
// "The 21 DWCP families"), written once. Both sources feed it the same typed
// events: the agent decodes BPF events into them, the hook library turns each On…() call into
// them. A dashboard or alert never needs to know which source ran.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dwcp {

// ---- typed events (the only input of the model) ----------------------------------------------

// `session` names the AMST session (DWCP's *MultiStreamTCP, as the agent sees it) a stream
// belongs to: stream ids are indexes inside one session and collide across sessions. 0 is the
// one session of a source that cannot tell sessions apart (the hook library).
struct StreamOpened {
  std::string stream_id;
  bool success = true;  // dwcp_amst_streams_total{result="success"|"failure"}
  std::uint64_t session = 0;
};
struct StreamClosed {
  std::string stream_id;
  std::uint64_t session = 0;
};
// Every stream the model still holds open, of every session, ends (the process is gone).
struct AllStreamsClosed {};
// Close() of one AMST session: only that session's open streams end.
struct SessionClosed {
  std::uint64_t session = 0;
};
// Streams a session already held when the source first saw it (an agent attached mid-flight):
// active from now on, but neither counted as opened nor timed (their start is unknown). Ids
// the model already holds open for the session are left as they are.
struct StreamsAdopted {
  std::uint64_t session = 0;
  std::vector<std::string> stream_ids;
};
struct StreamBytes {
  std::string stream_id;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};
struct StreamError {
  std::string stream_id;
  std::string error_type;
};
struct Latency {
  std::string operation;  // "send", "receive", "stream_duration", ...
  double seconds = 0;
};
struct BandwidthUpdate {
  double used_bps = 0;
  double available_bps = 0;  // utilization = used / available * 100, computed in the model
};
struct CompressionDone {
  std::string data_type;  // "vm_memory", "vm_disk", "delta", ...
  std::uint64_t original_bytes = 0;
  std::uint64_t compressed_bytes = 0;
  bool delta_hit = false;
  bool success = true;
  // dwcp_hde_operations_total{operation}. The original exporter (and so the hook library)
  // counts every compression as "encode" and every decompression as "decode".
  std::string operation = "compress";
  // False when the source cannot tell a delta hit from a miss (HDE.CompressMemory seen from
  // BPF): the compression then counts in bytes and ratio but not in the delta hit rate.
  bool delta_known = true;
  // True when the source counts the successful operation and its hit or miss from DWCP's own
  // totals (EncoderTotals): this event then adds bytes and a ratio only.
  bool operation_counted = false;
};
// DWCP's own figures, read from its memory by the agent (never by the hook library, whose caller
// reports each call instead).
// A session's activeStreams (Start, AdjustStreams and the health check set it): while a session
// has one, dwcp_amst_streams_active counts it instead of the session's open streams.
struct ActiveStreams {
  std::uint64_t session = 0;
  std::int64_t count = 0;
};
// Growth of a DeltaEncoder's totalEncoded and deltaHits since the last report:
// dwcp_hde_operations_total{encode,success} and the delta hit rate, as DWCP's GetMetrics has them.
struct EncoderTotals {
  std::uint64_t encoded = 0;
  std::uint64_t delta_hits = 0;
};
struct DecompressionDone {
  bool success = true;
  std::string operation = "decompress";
};
struct BaselineCount {
  std::string baseline_type;
  std::int64_t count = 0;
};
struct DictionaryEfficiency {
  double percent = 0;
};
struct MigrationStarted {
  std::string migration_id;
};
struct MigrationCompleted {
  std::string migration_id;
  std::string dest_node;
  bool dwcp_enabled = true;
  // < 0: the model measures from the matching MigrationStarted (hook path);
  // >= 0: the duration observed by the source (BPF path pairs entry and exit itself).
  double seconds = -1;
};
struct SpeedupCalculated {
  std::string vm_type;
  double factor = 0;
};
struct FederationSync {
  std::string remote_cluster;
  std::string sync_type;  // "state", "baseline"
  double seconds = 0;
  std::uint64_t bytes_saved = 0;
};
struct ComponentHealth {
  std::string component;
  int status = 2;  // 0 down, 1 degraded, 2 healthy
};
struct FeatureToggle {
  std::string feature;
  bool enabled = false;
};
struct VersionInfo {
  std::string version;
  std::string git_commit;
  std::string build_date;
};

using Event = std::variant<StreamOpened, StreamClosed, AllStreamsClosed, StreamBytes, StreamError, Latency,
                           BandwidthUpdate, CompressionDone, DecompressionDone, BaselineCount, DictionaryEfficiency,
                           MigrationStarted, MigrationCompleted, SpeedupCalculated, FederationSync, ComponentHealth,
                           FeatureToggle, VersionInfo, SessionClosed, StreamsAdopted, ActiveStreams, EncoderTotals>;

// ---- the model --------------------------------------------------------------------------------

struct ModelOptions {
  std::string cluster = "default";
  std::string node = "localhost";
  // Extra constant labels of every dwcp_* series of this model (e.g. {"target","dwcp@1234"}
  // when one agent observes several processes). Empty for the hook library.
  std::map<std::string, std::string> target_labels;
  // Free-form label values (stream_id, data_type, component, ...) kept per label before the
  // rest fold into "other" and count in dwcp_observer_labels_overflow_total.
  std::size_t max_label_values = 64;
  // Time source of the durations the model measures itself (stream open -> close, migration
  // start -> complete). Empty: std::chrono::steady_clock::now. Tests pass a fake clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class ModelImpl;

// The Collectable that exposes models: hand it (as weak_ptr) to the HTTP exposer next to the
// agent's own prometheus::Registry. Several models (one per observed target) attach to one
// ModelRegistry; Collect() merges their series family by family, so each family is written
// once (one HELP/TYPE) whatever the number of targets. Every family is listed from the first
// scrape, even while it has no series yet. Collect() may run on several threads at once and
// concurrently with updates.
class ModelRegistry : public prometheus::Collectable {
 public:
  ModelRegistry() = default;
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  std::vector<prometheus::MetricFamily> Collect() const override;
  std::size_t model_count() const;

 private:
  friend class ModelImpl;
  void attach(const ModelImpl* model);
  void detach(const ModelImpl* model);

  mutable std::mutex mutex_;
  std::vector<const ModelImpl*> models_;
};

class MetricsModel {
 public:
  // Creates all 21 families (plus the model's two dwcp_observer_* families) with their known
  // label sets at zero, and attaches them to `registry`. Throws std::invalid_argument when a
  // target label name is not a valid Prometheus label name or collides with a family label.
  MetricsModel(std::shared_ptr<ModelRegistry> registry, ModelOptions options);
  ~MetricsModel();
  MetricsModel(const MetricsModel&) = delete;
  MetricsModel& operator=(const MetricsModel&) = delete;

  // Thread-safe. Invalid values (negative sizes, empty ids) are clamped or named "unknown" and
  // counted in dwcp_observer_invalid_events_total; never thrown.
  void apply(const Event& event);

  // Hot paths, callable without building an Event (the hook library's OnStreamData and
  // OnCompressionComplete). No global lock after a label value's first use.
  // stream_bytes == apply(StreamBytes{...}); compression_done == apply(CompressionDone{...})
  // with operation "encode" (the original's name for it) and success.
  void stream_bytes(std::string_view stream_id, std::uint64_t sent, std::uint64_t received);
  void compression_done(std::string_view data_type, std::uint64_t original, std::uint64_t compressed, bool delta_hit);

  // Counts one invalid input seen before it became an event (e.g. the hook library's negative
  // byte counts) in dwcp_observer_invalid_events_total{reason}.
  void note_invalid(std::string_view reason);

  // Detaches this model's series from its registry (target gone past its expiry). Safe while
  // other threads still update the model: their updates land in detached series and are lost.
  void remove();

  // This model's families alone (what the registry merges), for tests and tools.
  std::vector<prometheus::MetricFamily> collect() const;

 private:
  std::unique_ptr<ModelImpl> impl_;
};

// Names of the 21 families, in catalogue order (docs/metrics.md is checked against this).
const char* const* dwcp_family_names(std::size_t* count);

// Every family a model exports (the 21 dwcp_* ones, then its dwcp_observer_* ones), with the
// full label names in exposition order (target labels excluded), for the docs test and tools.
struct FamilyInfo {
  std::string name;
  std::string type;  // "counter", "gauge", "histogram"
  std::vector<std::string> labels;
  std::vector<double> buckets;  // histogram upper bounds without +Inf
  std::string help;
};
const std::vector<FamilyInfo>& model_families();

// Renders collectables in the Prometheus text format 0.0.4 (what /metrics serves).
std::string render_text(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

}  // namespace dwcp
