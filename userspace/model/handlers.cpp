// The model's event handlers (one per event type) and its hot paths (per-stream bytes, compression).
#include <cmath>

#include "model/model_impl.h"

namespace dwcp {
using namespace model_detail;

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

void ModelImpl::stream_bytes(std::string_view stream_id, std::uint64_t sent, std::uint64_t received) {
  if (stream_id.empty()) {
    invalid(kEmptyId);
    stream_id = kUnknown;
  }
  const StreamCells cells = stream_cells(stream_id);
  if (sent != 0) add_bytes(cells.sent, sent);
  if (received != 0) add_bytes(cells.received, received);
  count(cells.overflow);
}

void ModelImpl::record_compression(const DataTypeCells& cells, std::uint64_t original, std::uint64_t compressed,
                                   bool delta_hit, bool delta_known) {
  if (delta_known) (delta_hit ? delta_hits_ : delta_misses_).fetch_add(1, std::memory_order_relaxed);
  if (original != 0) add_bytes(cells.original, original);
  if (compressed != 0) add_bytes(cells.compressed, compressed);
  if (original != 0 && compressed != 0) {
    observe(*cells.ratio, specs()[kCompressionRatio].buckets,
            static_cast<double>(original) / static_cast<double>(compressed));
  } else if (original != 0) {
    invalid(kZeroCompressedSize);  // a ratio of infinity says nothing: not observed
  }
  count(cells.overflow);
}

void ModelImpl::compression_done(std::string_view data_type, std::uint64_t original, std::uint64_t compressed,
                                 bool delta_hit) {
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
  active_by_session_.erase(e.session);
}

void ModelImpl::on(const ActiveStreams& e) {
  std::int64_t count = e.count;
  if (count < 0) {
    invalid(kNegativeValue);
    count = 0;
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (active_by_session_.size() >= kMaxTracked && active_by_session_.count(e.session) == 0) {
    invalid(kTrackingTableFull);
    return;
  }
  active_by_session_[e.session] = count;
}

void ModelImpl::on(const EncoderTotals& e) {
  if (e.delta_hits > e.encoded) invalid(kNegativeValue);  // more hits than encodes: misses would go below 0
  const std::uint64_t hits = std::min(e.delta_hits, e.encoded);
  encode_success_->count.fetch_add(e.encoded, std::memory_order_relaxed);
  delta_hits_.fetch_add(hits, std::memory_order_relaxed);
  delta_misses_.fetch_add(e.encoded - hits, std::memory_order_relaxed);
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
  if (e.success && e.operation_counted) {
    // The operation, hit and miss come from the source's own totals (EncoderTotals).
    const std::string_view type = e.data_type.empty() ? std::string_view(kUnknown) : std::string_view(e.data_type);
    if (e.data_type.empty()) invalid(kEmptyId);
    record_compression(data_type_cells(type), e.original_bytes, e.compressed_bytes, false, false);
    return;
  }
  if (e.success && e.operation == "encode" && e.delta_known) {
    compression_done(e.data_type, e.original_bytes, e.compressed_bytes, e.delta_hit);
    return;
  }
  increment_operation(e.operation, e.success);
  // A failed compression has no compressed size, ratio, hit or miss. HDE counts the input of
  // a call that then failed (DWCP adds len(input) on entry): a source that knows it passes it.
  if (!e.success && e.original_bytes == 0) return;
  const DataTypeCells cells =
      data_type_cells(e.data_type.empty() ? std::string_view(kUnknown) : std::string_view(e.data_type));
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

}  // namespace dwcp
