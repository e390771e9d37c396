// The metrics model: the 21 dwcp_* families of the catalogue, written once, fed by typed events
// from both sources (BPF decoder, hook library).
//
// Why not prometheus::Registry families: a model must be removable as a whole (target gone), two
// models of one agent must share family names without clashing, the hot paths must not take a
// lock (Family::Add locks, Histogram::Observe locks), and derived gauges (delta hit rate,
// bandwidth utilization, active streams) are best computed when scraped. So a model keeps its
// own series (plain atomics), and a ModelRegistry - a prometheus::Collectable - merges the
// series of all its models family by family at Collect().
#include "dwcp_observer/model.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace dwcp {
namespace {

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

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

const std::vector<Spec>& specs() {
  static const std::vector<Spec> table = {
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
       exponential_buckets(0.001, 2, 12), "AMST stream latency distribution in seconds"},
      {"dwcp_amst_bandwidth_utilization_percent", Kind::gauge, {"cluster", "node"}, {}, {},
       "Percentage of available bandwidth utilized by AMST"},
      {"dwcp_hde_compression_ratio", Kind::histogram, {"cluster", "node"}, {"data_type"},
       {1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50},
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
       {"dest_node", "dwcp_enabled"}, exponential_buckets(1, 2, 10),
       "VM migration duration distribution in seconds"},
      {"dwcp_migration_speedup_factor", Kind::gauge, {"cluster"}, {"vm_type"}, {},
       "Migration speedup factor with DWCP enabled (vs standard)"},
      {"dwcp_federation_sync_duration_seconds", Kind::histogram, {"cluster"},
       {"remote_cluster", "sync_type"}, exponential_buckets(0.01, 2, 10),
       "Federation state sync duration in seconds"},
      {"dwcp_federation_bandwidth_saved_bytes_total", Kind::counter, {"cluster"},
       {"remote_cluster"}, {}, "Total bandwidth saved through DWCP compression"},
      {"dwcp_system_component_health", Kind::gauge, {"cluster", "node"}, {"component"}, {},
       "Component health status (0=down, 1=degraded, 2=healthy)"},
      {"dwcp_system_config_enabled", Kind::gauge, {"cluster", "node"}, {"feature"}, {},
       "DWCP configuration enabled status (0=disabled, 1=enabled)"},
      {"dwcp_system_version_info", Kind::gauge, {"cluster"},
       {"version", "git_commit", "build_date"}, {}, "DWCP version information"},
      {"dwcp_observer_labels_overflow_total", Kind::counter, {}, {"label"}, {},
       "Updates whose label value was folded into \"other\" because the label reached its "
       "cap of distinct values"},
      {"dwcp_observer_invalid_events_total", Kind::counter, {}, {"reason"}, {},
       "Invalid inputs (empty ids, negative sizes, unmatched ends) clamped or ignored"},
  };
  return table;
}

// Labels whose values come from the observed program and are capped per model.
const char* const kCappedLabels[] = {"stream_id",  "error_type",     "operation", "data_type",
                                     "baseline_type", "dest_node",   "vm_type",   "remote_cluster",
                                     "sync_type",  "component",      "feature",   "reason"};

// Reasons of dwcp_observer_invalid_events_total the model itself uses (created at zero).
const char* const kInvalidReasons[] = {
    "empty_id",           "negative_value",         "not_a_number",
    "zero_compressed_size", "close_without_open",   "complete_without_start",
    "status_out_of_range", "tracking_table_full"};

const char* const kOther = "other";
const char* const kUnknown = "unknown";
// Open streams / running migrations remembered at most (a program that never closes them must
// not grow the agent without bound).
constexpr std::size_t kMaxTracked = 65536;

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

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

void add_double(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// One series: a counter uses `count`, a gauge `value`, a histogram `buckets` + `sum`.
struct Series {
  explicit Series(std::size_t bucket_count) : buckets(bucket_count + 1) {}
  std::atomic<std::uint64_t> count{0};
  std::atomic<double> value{0};
  std::vector<std::atomic<std::uint64_t>> buckets;  // per bucket (not cumulative), last = +Inf
  std::atomic<double> sum{0};
};

void observe(Series& series, const std::vector<double>& bounds, double value) {
  std::size_t index = 0;
  while (index < bounds.size() && value > bounds[index]) ++index;
  series.buckets[index].fetch_add(1, std::memory_order_relaxed);
  add_double(series.sum, value);
}

struct FamilyStore {
  mutable std::mutex mutex;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series;
};

// Distinct values seen of one capped label.
struct LabelDomain {
  std::mutex mutex;
  std::unordered_set<std::string> values;
  std::size_t seeded = 0;  // values the model itself knows (not counted against the cap)
};

// A fixed-size open-addressing table that readers search without any lock: entries are
// immutable once published and live as long as the model. Writers hold the model's hot-path
// mutex. At most half full, so a search always ends on an empty slot.
template <typename Cells>
class HotTable {
 public:
  struct Entry {
    std::size_t hash;
    std::string key;
    Cells cells;
  };

  const Cells* find(std::size_t hash, std::string_view key) const {
    for (std::size_t i = 0; i < kSlots; ++i) {
      const Entry* entry = slots_[(hash + i) & (kSlots - 1)].load(std::memory_order_acquire);
      if (entry == nullptr) return nullptr;
      if (entry->hash == hash && entry->key == key) return &entry->cells;
    }
    return nullptr;
  }

  // Returns false when the table is full (the caller then resolves under its lock each time).
  bool insert(std::size_t hash, std::string_view key, const Cells& cells) {
    if (owned_.size() >= kSlots / 2) return false;
    auto entry = std::make_unique<Entry>(Entry{hash, std::string(key), cells});
    std::size_t slot = hash;
    while (slots_[slot & (kSlots - 1)].load(std::memory_order_relaxed) != nullptr) ++slot;
    slots_[slot & (kSlots - 1)].store(entry.get(), std::memory_order_release);
    owned_.push_back(std::move(entry));
    return true;
  }

 private:
  static constexpr std::size_t kSlots = 1024;
  std::array<std::atomic<const Entry*>, kSlots> slots_{};
  std::vector<std::unique_ptr<Entry>> owned_;
};

struct StreamCells {
  Series* sent;
  Series* received;
  Series* overflow;  // non-null when the stream id was folded into "other"
};
struct DataTypeCells {
  Series* ratio;
  Series* original;
  Series* compressed;
  Series* overflow;
};

}  // namespace

// ---- the model's state -------------------------------------------------------------------------

class ModelImpl {
 public:
  ModelImpl(std::shared_ptr<ModelRegistry> registry, ModelOptions options);
  ~ModelImpl() { detach(); }

  void apply(const Event& event);
  void stream_bytes(std::string_view stream_id, std::uint64_t sent, std::uint64_t received);
  void compression_done(std::string_view data_type, std::uint64_t original,
                        std::uint64_t compressed, bool delta_hit);
  void note_invalid(std::string_view reason);
  void detach() {
    if (attached_.exchange(false)) registry_->detach(this);
  }
  std::vector<prometheus::MetricFamily> collect() const;

  // Event handlers (one per event type, called by apply's visitor).
  void on(const StreamOpened& e);
  void on(const StreamClosed& e);
  void on(const AllStreamsClosed& e);
  void on(const SessionClosed& e);
  void on(const StreamsAdopted& e);
  void on(const StreamBytes& e) { stream_bytes(e.stream_id, e.sent, e.received); }
  void on(const StreamError& e);
  void on(const Latency& e);
  void on(const BandwidthUpdate& e);
  void on(const CompressionDone& e);
  void on(const DecompressionDone& e);
  void on(const BaselineCount& e);
  void on(const DictionaryEfficiency& e);
  void on(const MigrationStarted& e);
  void on(const MigrationCompleted& e);
  void on(const SpeedupCalculated& e);
  void on(const FederationSync& e);
  void on(const ComponentHealth& e);
  void on(const FeatureToggle& e);
  void on(const VersionInfo& e);

 private:
  using Clock = std::chrono::steady_clock;

  struct Resolved {
    std::string value;
    Series* overflow;  // the label's overflow counter when folded, else null
  };

  Clock::time_point now() const { return options_.clock ? options_.clock() : Clock::now(); }
  Series* series(FamilyId family, std::vector<std::string> values);
  Resolved resolve(const std::string& label, std::string_view value);
  void seed(const std::string& label, const std::string& value);
  void count(Series* s, std::uint64_t n = 1) {
    if (s != nullptr) s->count.fetch_add(n, std::memory_order_relaxed);
  }
  void invalid(std::size_t reason_index) { count(invalid_[reason_index]); }
  std::string id_or_unknown(std::string_view id);
  double clamp_seconds(double seconds);
  void observe_in(FamilyId family, std::vector<std::string> values, double value);
  void increment_operation(std::string_view operation, bool success);
  void record_compression(const DataTypeCells& cells, std::uint64_t original,
                          std::uint64_t compressed, bool delta_hit, bool delta_known = true);
  StreamCells stream_cells(std::string_view stream_id);
  DataTypeCells data_type_cells(std::string_view data_type);
  double seconds_since(Clock::time_point start) const {
    return std::chrono::duration<double>(now() - start).count();
  }
  std::vector<prometheus::ClientMetric::Label> labels_of(FamilyId family,
                                                         const std::vector<std::string>& values) const;
  // An open stream: when it opened, or nothing for a stream adopted mid-flight (not timed).
  using OpenStreams = std::unordered_map<std::string, std::optional<Clock::time_point>>;
  void close_stream_locked(OpenStreams& streams, OpenStreams::iterator it);
  void close_session_locked(std::uint64_t session);

  std::shared_ptr<ModelRegistry> registry_;
  ModelOptions options_;
  std::atomic<bool> attached_{false};
  std::array<FamilyStore, kFamilyCount> families_;
  std::map<std::string, LabelDomain> domains_;      // fixed set of keys after construction
  std::map<std::string, Series*> overflow_;         // per capped label
  std::array<Series*, std::size(kInvalidReasons)> invalid_{};
  Series* encode_success_ = nullptr;  // dwcp_hde_operations_total{operation="encode",result="success"}
  Series* stream_duration_ = nullptr;  // dwcp_amst_latency_seconds{operation="stream_duration"}

  // Hot paths: lock-free lookup of the series of a label value after its first use.
  std::mutex hot_mutex_;
  HotTable<StreamCells> stream_table_;
  HotTable<DataTypeCells> data_type_table_;

  // Inputs of the derived gauges, computed in derive() at scrape time.
  std::atomic<std::uint64_t> delta_hits_{0};
  std::atomic<std::uint64_t> delta_misses_{0};
  mutable std::mutex state_mutex_;
  // Open streams by session (the AMST *MultiStreamTCP; 0 for sources without sessions) and id.
  std::unordered_map<std::uint64_t, OpenStreams> open_streams_;
  std::size_t open_count_ = 0;
  std::unordered_map<std::string, Clock::time_point> migrations_;
  bool has_bandwidth_ = false;
  double bandwidth_used_ = 0;
  double bandwidth_available_ = 0;
  bool has_dictionary_efficiency_ = false;
  double dictionary_efficiency_ = 0;
};

namespace {
enum InvalidReason : std::size_t {
  kEmptyId,
  kNegativeValue,
  kNotANumber,
  kZeroCompressedSize,
  kCloseWithoutOpen,
  kCompleteWithoutStart,
  kStatusOutOfRange,
  kTrackingTableFull
};
}  // namespace

ModelImpl::ModelImpl(std::shared_ptr<ModelRegistry> registry, ModelOptions options)
    : registry_(std::move(registry)), options_(std::move(options)) {
  if (!registry_) throw std::invalid_argument("MetricsModel needs a ModelRegistry (got null)");
  std::set<std::string> family_labels;
  for (const Spec& spec : specs()) {
    family_labels.insert(spec.fixed_labels.begin(), spec.fixed_labels.end());
    family_labels.insert(spec.event_labels.begin(), spec.event_labels.end());
  }
  for (const auto& [name, value] : options_.target_labels) {
    if (!valid_label_name(name))
      throw std::invalid_argument("target label name \"" + name +
                                  "\" is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, "
                                  "no leading __)");
    if (family_labels.count(name) != 0)
      throw std::invalid_argument("target label name \"" + name +
                                  "\" collides with a dwcp_* family label: pick another name");
  }
  if (options_.max_label_values == 0) options_.max_label_values = 1;

  for (const char* label : kCappedLabels) domains_[label];
  for (const char* label : kCappedLabels) overflow_[label] = series(kLabelsOverflow, {label});
  for (std::size_t i = 0; i < std::size(kInvalidReasons); ++i) {
    seed("reason", kInvalidReasons[i]);
    invalid_[i] = series(kInvalidEvents, {kInvalidReasons[i]});
  }

  // Known label sets at zero, so that rate() and alerts work from the first scrape.
  for (const char* result : {"success", "failure"}) series(kStreamsTotal, {result});
  for (const char* operation : {"compress", "decompress", "encode", "decode"}) {
    seed("operation", operation);
    for (const char* result : {"success", "failure"}) series(kHdeOperations, {operation, result});
  }
  encode_success_ = series(kHdeOperations, {"encode", "success"});
  seed("operation", "stream_duration");
  stream_duration_ = series(kLatency, {"stream_duration"});

  registry_->attach(this);
  attached_ = true;
}

Series* ModelImpl::series(FamilyId family, std::vector<std::string> values) {
  FamilyStore& store = families_[family];
  std::lock_guard<std::mutex> lock(store.mutex);
  auto& slot = store.series[std::move(values)];
  if (!slot) slot = std::make_unique<Series>(specs()[family].buckets.size());
  return slot.get();
}

ModelImpl::Resolved ModelImpl::resolve(const std::string& label, std::string_view value) {
  LabelDomain& domain = domains_.at(label);
  std::lock_guard<std::mutex> lock(domain.mutex);
  std::string key(value);
  if (domain.values.count(key) != 0) return {std::move(key), nullptr};
  if (domain.values.size() - domain.seeded < options_.max_label_values) {
    domain.values.insert(key);
    return {std::move(key), nullptr};
  }
  return {kOther, overflow_.at(label)};
}

void ModelImpl::seed(const std::string& label, const std::string& value) {
  LabelDomain& domain = domains_.at(label);
  std::lock_guard<std::mutex> lock(domain.mutex);
  if (domain.values.insert(value).second) ++domain.seeded;
}

std::string ModelImpl::id_or_unknown(std::string_view id) {
  if (!id.empty()) return std::string(id);
  invalid(kEmptyId);
  return kUnknown;
}

double ModelImpl::clamp_seconds(double seconds) {
  if (std::isnan(seconds)) {
    invalid(kNotANumber);
    return 0;
  }
  if (seconds < 0) {
    invalid(kNegativeValue);
    return 0;
  }
  return seconds;
}

void ModelImpl::observe_in(FamilyId family, std::vector<std::string> values, double value) {
  observe(*series(family, std::move(values)), specs()[family].buckets, value);
}

void ModelImpl::note_invalid(std::string_view reason) {
  Resolved r = resolve("reason", reason.empty() ? std::string_view(kUnknown) : reason);
  count(r.overflow);
  count(series(kInvalidEvents, {r.value}));
}

// ---- hot paths --------------------------------------------------------------------------------

StreamCells ModelImpl::stream_cells(std::string_view stream_id) {
  const std::size_t hash = std::hash<std::string_view>{}(stream_id);
  if (const StreamCells* cells = stream_table_.find(hash, stream_id)) return *cells;
  std::lock_guard<std::mutex> lock(hot_mutex_);
  if (const StreamCells* cells = stream_table_.find(hash, stream_id)) return *cells;
  Resolved r = resolve("stream_id", stream_id);
  StreamCells cells{series(kBytesSent, {r.value}), series(kBytesReceived, {r.value}), r.overflow};
  stream_table_.insert(hash, stream_id, cells);
  return cells;
}

DataTypeCells ModelImpl::data_type_cells(std::string_view data_type) {
  const std::size_t hash = std::hash<std::string_view>{}(data_type);
  if (const DataTypeCells* cells = data_type_table_.find(hash, data_type)) return *cells;
  std::lock_guard<std::mutex> lock(hot_mutex_);
  if (const DataTypeCells* cells = data_type_table_.find(hash, data_type)) return *cells;
  Resolved r = resolve("data_type", data_type);
  DataTypeCells cells{series(kCompressionRatio, {r.value}), series(kBytesOriginal, {r.value}),
                      series(kBytesCompressed, {r.value}), r.overflow};
  data_type_table_.insert(hash, data_type, cells);
  return cells;
}

void ModelImpl::stream_bytes(std::string_view stream_id, std::uint64_t sent,
                             std::uint64_t received) {
  if (stream_id.empty()) {
    invalid(kEmptyId);
    stream_id = kUnknown;
  }
  const StreamCells cells = stream_cells(stream_id);
  if (sent != 0) cells.sent->count.fetch_add(sent, std::memory_order_relaxed);
  if (received != 0) cells.received->count.fetch_add(received, std::memory_order_relaxed);
  count(cells.overflow);
}

void ModelImpl::record_compression(const DataTypeCells& cells, std::uint64_t original,
                                   std::uint64_t compressed, bool delta_hit, bool delta_known) {
  if (delta_known) (delta_hit ? delta_hits_ : delta_misses_).fetch_add(1, std::memory_order_relaxed);
  if (original != 0) cells.original->count.fetch_add(original, std::memory_order_relaxed);
  if (compressed != 0) cells.compressed->count.fetch_add(compressed, std::memory_order_relaxed);
  if (original != 0 && compressed != 0) {
    observe(*cells.ratio, specs()[kCompressionRatio].buckets,
            static_cast<double>(original) / static_cast<double>(compressed));
  } else if (original != 0) {
    invalid(kZeroCompressedSize);  // a ratio of infinity says nothing: not observed
  }
  count(cells.overflow);
}

void ModelImpl::compression_done(std::string_view data_type, std::uint64_t original,
                                 std::uint64_t compressed, bool delta_hit) {
  if (data_type.empty()) {
    invalid(kEmptyId);
    data_type = kUnknown;
  }
  encode_success_->count.fetch_add(1, std::memory_order_relaxed);
  record_compression(data_type_cells(data_type), original, compressed, delta_hit);
}

// ---- events -----------------------------------------------------------------------------------

void ModelImpl::apply(const Event& event) {
  std::visit([this](const auto& e) { on(e); }, event);
}

void ModelImpl::on(const StreamOpened& e) {
  count(series(kStreamsTotal, {e.success ? "success" : "failure"}));
  const std::string id = id_or_unknown(e.stream_id);
  if (!e.success) return;
  std::lock_guard<std::mutex> lock(state_mutex_);
  OpenStreams& streams = open_streams_[e.session];
  auto [it, inserted] = streams.try_emplace(id);
  if (inserted && open_count_ >= kMaxTracked) {
    streams.erase(it);
    if (streams.empty()) open_streams_.erase(e.session);
    invalid(kTrackingTableFull);
    return;
  }
  if (inserted) ++open_count_;
  it->second = now();
}

void ModelImpl::close_stream_locked(OpenStreams& streams, OpenStreams::iterator it) {
  if (it->second) observe(*stream_duration_, specs()[kLatency].buckets, seconds_since(*it->second));
  streams.erase(it);
  --open_count_;
}

void ModelImpl::close_session_locked(std::uint64_t session) {
  auto found = open_streams_.find(session);
  if (found == open_streams_.end()) return;
  OpenStreams& streams = found->second;
  while (!streams.empty()) close_stream_locked(streams, streams.begin());
  open_streams_.erase(found);
}

void ModelImpl::on(const StreamClosed& e) {
  const std::string id = id_or_unknown(e.stream_id);
  std::lock_guard<std::mutex> lock(state_mutex_);
  auto session = open_streams_.find(e.session);
  auto it = session == open_streams_.end() ? OpenStreams::iterator{} : session->second.find(id);
  if (session == open_streams_.end() || it == session->second.end()) {
    invalid(kCloseWithoutOpen);
    return;
  }
  close_stream_locked(session->second, it);
  if (session->second.empty()) open_streams_.erase(session);
}

void ModelImpl::on(const AllStreamsClosed&) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  while (!open_streams_.empty()) close_session_locked(open_streams_.begin()->first);
}

void ModelImpl::on(const SessionClosed& e) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  close_session_locked(e.session);
}

void ModelImpl::on(const StreamsAdopted& e) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  for (const std::string& raw : e.stream_ids) {
    const std::string id = id_or_unknown(raw);
    OpenStreams& streams = open_streams_[e.session];
    if (streams.count(id) != 0) continue;
    if (open_count_ >= kMaxTracked) {
      if (streams.empty()) open_streams_.erase(e.session);
      invalid(kTrackingTableFull);
      return;
    }
    streams.emplace(id, std::nullopt);
    ++open_count_;
  }
}

void ModelImpl::on(const StreamError& e) {
  if (e.stream_id.empty()) invalid(kEmptyId);
  Resolved r = resolve("error_type", id_or_unknown(e.error_type));
  count(r.overflow);
  count(series(kErrors, {r.value}));
}

void ModelImpl::on(const Latency& e) {
  Resolved r = resolve("operation", id_or_unknown(e.operation));
  count(r.overflow);
  observe_in(kLatency, {r.value}, clamp_seconds(e.seconds));
}

void ModelImpl::on(const BandwidthUpdate& e) {
  double used = e.used_bps;
  double available = e.available_bps;
  if (std::isnan(used) || std::isnan(available)) {
    invalid(kNotANumber);
    return;
  }
  if (used < 0 || available < 0) invalid(kNegativeValue);
  std::lock_guard<std::mutex> lock(state_mutex_);
  has_bandwidth_ = true;
  bandwidth_used_ = std::max(0.0, used);
  bandwidth_available_ = std::max(0.0, available);
}

void ModelImpl::increment_operation(std::string_view operation, bool success) {
  Resolved r = resolve("operation", operation.empty() ? std::string_view(kUnknown) : operation);
  if (operation.empty()) invalid(kEmptyId);
  count(r.overflow);
  count(series(kHdeOperations, {r.value, success ? "success" : "failure"}));
}

void ModelImpl::on(const CompressionDone& e) {
  if (e.success && e.operation == "encode" && e.delta_known) {
    compression_done(e.data_type, e.original_bytes, e.compressed_bytes, e.delta_hit);
    return;
  }
  increment_operation(e.operation, e.success);
  // A failed compression has no compressed size, ratio, hit or miss. HDE counts the input of
  // a call that then failed (DWCP adds len(input) on entry): a source that knows it passes it.
  if (!e.success && e.original_bytes == 0) return;
  const DataTypeCells cells = data_type_cells(e.data_type.empty() ? std::string_view(kUnknown)
                                                                  : std::string_view(e.data_type));
  if (e.data_type.empty()) invalid(kEmptyId);
  if (!e.success) {
    cells.original->count.fetch_add(e.original_bytes, std::memory_order_relaxed);
    count(cells.overflow);
    return;
  }
  record_compression(cells, e.original_bytes, e.compressed_bytes, e.delta_hit, e.delta_known);
}

void ModelImpl::on(const DecompressionDone& e) { increment_operation(e.operation, e.success); }

void ModelImpl::on(const BaselineCount& e) {
  Resolved r = resolve("baseline_type", id_or_unknown(e.baseline_type));
  count(r.overflow);
  std::int64_t value = e.count;
  if (value < 0) {
    invalid(kNegativeValue);
    value = 0;
  }
  series(kBaselineCount, {r.value})->value.store(static_cast<double>(value));
}

void ModelImpl::on(const DictionaryEfficiency& e) {
  if (std::isnan(e.percent)) {
    invalid(kNotANumber);
    return;
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  has_dictionary_efficiency_ = true;
  dictionary_efficiency_ = e.percent;
}

void ModelImpl::on(const MigrationStarted& e) {
  const std::string id = id_or_unknown(e.migration_id);
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (migrations_.size() >= kMaxTracked && migrations_.count(id) == 0) {
    invalid(kTrackingTableFull);
    return;
  }
  migrations_[id] = now();
}

void ModelImpl::on(const MigrationCompleted& e) {
  const std::string id = id_or_unknown(e.migration_id);
  double seconds = e.seconds;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    auto it = migrations_.find(id);
    const bool measured_by_source = seconds >= 0;  // false for NaN too
    if (!measured_by_source) {
      if (it == migrations_.end()) {
        invalid(kCompleteWithoutStart);
        return;
      }
      seconds = seconds_since(it->second);
    }
    if (it != migrations_.end()) migrations_.erase(it);
  }
  Resolved dest = resolve("dest_node", id_or_unknown(e.dest_node));
  count(dest.overflow);
  observe_in(kMigrationDuration, {dest.value, e.dwcp_enabled ? "true" : "false"}, seconds);
}

void ModelImpl::on(const SpeedupCalculated& e) {
  Resolved r = resolve("vm_type", id_or_unknown(e.vm_type));
  count(r.overflow);
  double factor = e.factor;
  if (std::isnan(factor)) {
    invalid(kNotANumber);
    return;
  }
  if (factor < 0) {
    invalid(kNegativeValue);
    factor = 0;
  }
  series(kSpeedupFactor, {r.value})->value.store(factor);
}

void ModelImpl::on(const FederationSync& e) {
  Resolved remote = resolve("remote_cluster", id_or_unknown(e.remote_cluster));
  Resolved type = resolve("sync_type", id_or_unknown(e.sync_type));
  count(remote.overflow);
  count(type.overflow);
  observe_in(kFederationSyncDuration, {remote.value, type.value}, clamp_seconds(e.seconds));
  // The counter exists (at 0) from a remote's first sync, so rate() sees its first savings.
  count(series(kFederationBandwidthSaved, {remote.value}), e.bytes_saved);
}

void ModelImpl::on(const ComponentHealth& e) {
  Resolved r = resolve("component", id_or_unknown(e.component));
  count(r.overflow);
  int status = e.status;
  if (status < 0 || status > 2) {
    invalid(kStatusOutOfRange);
    status = std::clamp(status, 0, 2);
  }
  series(kComponentHealth, {r.value})->value.store(status);
}

void ModelImpl::on(const FeatureToggle& e) {
  Resolved r = resolve("feature", id_or_unknown(e.feature));
  count(r.overflow);
  series(kConfigEnabled, {r.value})->value.store(e.enabled ? 1.0 : 0.0);
}

void ModelImpl::on(const VersionInfo& e) {
  std::vector<std::string> values = {id_or_unknown(e.version), id_or_unknown(e.git_commit),
                                     id_or_unknown(e.build_date)};
  // One version at a time: a new VersionInfo replaces the previous series.
  FamilyStore& store = families_[kVersionInfo];
  std::lock_guard<std::mutex> lock(store.mutex);
  store.series.clear();
  auto series = std::make_unique<Series>(0);
  series->value.store(1);
  store.series[std::move(values)] = std::move(series);
}

// ---- collection -------------------------------------------------------------------------------

std::vector<prometheus::ClientMetric::Label> ModelImpl::labels_of(
    FamilyId family, const std::vector<std::string>& values) const {
  const Spec& spec = specs()[family];
  std::vector<prometheus::ClientMetric::Label> labels;
  for (const std::string& name : spec.fixed_labels)
    labels.push_back({name, name == "cluster" ? options_.cluster : options_.node});
  for (std::size_t i = 0; i < spec.event_labels.size() && i < values.size(); ++i)
    labels.push_back({spec.event_labels[i], values[i]});
  for (const auto& [name, value] : options_.target_labels) labels.push_back({name, value});
  return labels;
}

std::vector<prometheus::MetricFamily> ModelImpl::collect() const {
  // The derived gauges, computed here and nowhere else.
  std::optional<double> streams_active, utilization, hit_rate, dictionary;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    streams_active = static_cast<double>(open_count_);
    if (has_bandwidth_)
      utilization = bandwidth_available_ > 0 ? bandwidth_used_ / bandwidth_available_ * 100 : 0;
    if (has_dictionary_efficiency_) dictionary = dictionary_efficiency_;
  }
  const std::uint64_t hits = delta_hits_.load(std::memory_order_relaxed);
  const std::uint64_t misses = delta_misses_.load(std::memory_order_relaxed);
  if (hits + misses > 0) hit_rate = static_cast<double>(hits) / static_cast<double>(hits + misses) * 100;

  std::vector<prometheus::MetricFamily> out;
  out.reserve(kFamilyCount);
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    const Spec& spec = specs()[f];
    prometheus::MetricFamily family{spec.name, spec.help, to_prometheus(spec.kind), {}};
    const std::optional<double>* derived = nullptr;
    if (f == kStreamsActive) derived = &streams_active;
    if (f == kBandwidthUtilization) derived = &utilization;
    if (f == kDeltaHitRate) derived = &hit_rate;
    if (f == kDictionaryEfficiency) derived = &dictionary;
    if (derived != nullptr) {
      if (derived->has_value()) {
        prometheus::ClientMetric metric;
        metric.label = labels_of(static_cast<FamilyId>(f), {});
        metric.gauge.value = **derived;
        family.metric.push_back(std::move(metric));
      }
      out.push_back(std::move(family));
      continue;
    }
    const FamilyStore& store = families_[f];
    std::lock_guard<std::mutex> lock(store.mutex);
    for (const auto& [values, series] : store.series) {
      prometheus::ClientMetric metric;
      metric.label = labels_of(static_cast<FamilyId>(f), values);
      switch (spec.kind) {
        case Kind::counter:
          metric.counter.value = static_cast<double>(series->count.load(std::memory_order_relaxed));
          break;
        case Kind::gauge:
          metric.gauge.value = series->value.load(std::memory_order_relaxed);
          break;
        case Kind::histogram: {
          std::uint64_t cumulative = 0;
          for (std::size_t b = 0; b < series->buckets.size(); ++b) {
            cumulative += series->buckets[b].load(std::memory_order_relaxed);
            const double bound = b < spec.buckets.size() ? spec.buckets[b]
                                                         : std::numeric_limits<double>::infinity();
            metric.histogram.bucket.push_back({cumulative, bound});
          }
          metric.histogram.sample_count = cumulative;
          metric.histogram.sample_sum = series->sum.load(std::memory_order_relaxed);
          break;
        }
      }
      family.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(family));
  }
  return out;
}

// ---- registry ---------------------------------------------------------------------------------

void ModelRegistry::attach(const ModelImpl* model) {
  std::lock_guard<std::mutex> lock(mutex_);
  models_.push_back(model);
}

void ModelRegistry::detach(const ModelImpl* model) {
  std::lock_guard<std::mutex> lock(mutex_);
  models_.erase(std::remove(models_.begin(), models_.end(), model), models_.end());
}

std::size_t ModelRegistry::model_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return models_.size();
}

std::vector<prometheus::MetricFamily> ModelRegistry::Collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (models_.empty()) {
    std::vector<prometheus::MetricFamily> empty;
    for (const Spec& spec : specs()) empty.push_back({spec.name, spec.help, to_prometheus(spec.kind), {}});
    return empty;
  }
  // Every model yields the same families in the same order: merge them index by index.
  std::vector<prometheus::MetricFamily> merged = models_.front()->collect();
  for (std::size_t m = 1; m < models_.size(); ++m) {
    std::vector<prometheus::MetricFamily> more = models_[m]->collect();
    for (std::size_t f = 0; f < merged.size() && f < more.size(); ++f) {
      auto& into = merged[f].metric;
      into.insert(into.end(), std::make_move_iterator(more[f].metric.begin()),
                  std::make_move_iterator(more[f].metric.end()));
    }
  }
  return merged;
}

// ---- public wrappers --------------------------------------------------------------------------

MetricsModel::MetricsModel(std::shared_ptr<ModelRegistry> registry, ModelOptions options)
    : impl_(std::make_unique<ModelImpl>(std::move(registry), std::move(options))) {}
MetricsModel::~MetricsModel() = default;
void MetricsModel::apply(const Event& event) { impl_->apply(event); }
void MetricsModel::stream_bytes(std::string_view stream_id, std::uint64_t sent,
                                std::uint64_t received) {
  impl_->stream_bytes(stream_id, sent, received);
}
void MetricsModel::compression_done(std::string_view data_type, std::uint64_t original,
                                    std::uint64_t compressed, bool delta_hit) {
  impl_->compression_done(data_type, original, compressed, delta_hit);
}
void MetricsModel::note_invalid(std::string_view reason) { impl_->note_invalid(reason); }
void MetricsModel::remove() { impl_->detach(); }
std::vector<prometheus::MetricFamily> MetricsModel::collect() const { return impl_->collect(); }

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

std::string render_text(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : collectables) {
    if (auto collectable = weak.lock()) {
      auto more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace dwcp
