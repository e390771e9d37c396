// The state of one MetricsModel (include/dwcp_observer/model.h). Its parts live in model.cpp
// (construction, label domains, registry, public wrappers), handlers.cpp (one handler per event,
// the hot paths) and exposition.cpp (collection, derived gauges, text rendering).
#pragma once

#include <chrono>
#include <optional>
#include <unordered_map>

#include "dwcp_observer/model.h"
#include "model/families.h"
#include "model/series.h"

namespace dwcp {

// Open streams / running migrations remembered at most (a program that never closes them must
// not grow the agent without bound).
inline constexpr std::size_t kMaxTracked = 65536;

class ModelImpl {
 public:
  using FamilyId = model_detail::FamilyId;
  using Series = model_detail::Series;
  using StreamCells = model_detail::StreamCells;
  using DataTypeCells = model_detail::DataTypeCells;

  ModelImpl(std::shared_ptr<ModelRegistry> registry, ModelOptions options);
  ~ModelImpl() { detach(); }

  void apply(const Event& event);
  void stream_bytes(std::string_view stream_id, std::uint64_t sent, std::uint64_t received);
  void compression_done(std::string_view data_type, std::uint64_t original, std::uint64_t compressed, bool delta_hit);
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
  void on(const ActiveStreams& e);
  void on(const EncoderTotals& e);
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
    if (s == nullptr) return;
    // One at a time cannot reach 2^64; a figure from the observed program can.
    if (n == 1)
      s->count.fetch_add(1, std::memory_order_relaxed);
    else
      add_bytes(s, n);
  }
  void invalid(std::size_t reason_index) { count(invalid_[reason_index]); }
  // A byte counter's addition, saturating: a sum past 2^64 would wrap and the exported counter go
  // down (a hostile target's figures can add anything). Held at the top instead, and counted.
  void add_bytes(Series* s, std::uint64_t n) {
    if (s == nullptr) return;
    std::uint64_t now = s->count.load(std::memory_order_relaxed);
    do {
      if (n > UINT64_MAX - now) {
        s->count.store(UINT64_MAX, std::memory_order_relaxed);
        invalid(model_detail::kCounterOverflow);
        return;
      }
    } while (!s->count.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
  }
  std::string id_or_unknown(std::string_view id);
  double clamp_seconds(double seconds);
  void observe_in(FamilyId family, std::vector<std::string> values, double value);
  void increment_operation(std::string_view operation, bool success);
  void record_compression(const DataTypeCells& cells, std::uint64_t original, std::uint64_t compressed, bool delta_hit,
                          bool delta_known = true);
  StreamCells stream_cells(std::string_view stream_id);
  DataTypeCells data_type_cells(std::string_view data_type);
  double seconds_since(Clock::time_point start) const { return std::chrono::duration<double>(now() - start).count(); }
  std::vector<prometheus::ClientMetric::Label> labels_of(FamilyId family, const std::vector<std::string>& values) const;
  // An open stream: when it opened, or nothing for a stream adopted mid-flight (not timed).
  using OpenStreams = std::unordered_map<std::string, std::optional<Clock::time_point>>;
  void close_stream_locked(OpenStreams& streams, OpenStreams::iterator it);
  void close_session_locked(std::uint64_t session);

  std::shared_ptr<ModelRegistry> registry_;
  ModelOptions options_;
  std::atomic<bool> attached_{false};
  std::array<model_detail::FamilyStore, model_detail::kFamilyCount> families_;
  std::map<std::string, model_detail::LabelDomain> domains_;  // fixed set of keys after construction
  std::map<std::string, Series*> overflow_;                   // per capped label
  std::array<Series*, model_detail::kInvalidReasonCount> invalid_{};
  Series* encode_success_ = nullptr;   // dwcp_hde_operations_total{operation="encode",result="success"}
  Series* stream_duration_ = nullptr;  // dwcp_amst_latency_seconds{operation="stream_duration"}

  // Hot paths: lock-free lookup of the series of a label value after its first use.
  std::mutex hot_mutex_;
  model_detail::HotTable<StreamCells> stream_table_;
  model_detail::HotTable<DataTypeCells> data_type_table_;

  // Inputs of the derived gauges, computed in derive() at scrape time.
  std::atomic<std::uint64_t> delta_hits_{0};
  std::atomic<std::uint64_t> delta_misses_{0};
  mutable std::mutex state_mutex_;
  // Open streams by session (the AMST *MultiStreamTCP; 0 for sources without sessions) and id.
  std::unordered_map<std::uint64_t, OpenStreams> open_streams_;
  std::size_t open_count_ = 0;
  // DWCP's own activeStreams by session, where the source reads it (ActiveStreams).
  std::unordered_map<std::uint64_t, std::int64_t> active_by_session_;
  std::unordered_map<std::string, Clock::time_point> migrations_;
  bool has_bandwidth_ = false;
  double bandwidth_used_ = 0;
  double bandwidth_available_ = 0;
  bool has_dictionary_efficiency_ = false;
  double dictionary_efficiency_ = 0;
};

}  // namespace dwcp
