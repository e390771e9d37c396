// The hook library: each call of the original DWCP metrics API becomes a model event.
#include "dwcp_observer/hooks.h"

#include "dwcp_observer/http_server.h"
#include "dwcp_observer/model.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace dwcp {
namespace {

// Process-wide state. The registry and model are created once and never destroyed: a thread
// of the host program may still call a hook while static destructors run at exit, and the
// values must survive ShutdownMetrics for a later InitializeMetrics.
struct Library {
  std::mutex mutex;  // Init / Shutdown only; recording reads `active` without it
  std::shared_ptr<ModelRegistry> registry;
  MetricsModel* model = nullptr;
  std::unique_ptr<HttpServer> server;
  std::atomic<MetricsModel*> active{nullptr};
  std::atomic<std::uint64_t> ignored{0};
};

Library& library() {
  static Library* instance = new Library();  // leaked on purpose, see above
  return *instance;
}

// The model to record into, or null (and the call counted as ignored).
MetricsModel* recorder() {
  Library& lib = library();
  MetricsModel* model = lib.active.load(std::memory_order_acquire);
  if (model == nullptr) lib.ignored.fetch_add(1, std::memory_order_relaxed);
  return model;
}

std::uint64_t non_negative(MetricsModel& model, std::int64_t value) {
  if (value >= 0) return static_cast<std::uint64_t>(value);
  model.note_invalid("negative_value");
  return 0;
}

void record(const Event& event) {
  if (MetricsModel* model = recorder()) model->apply(event);
}

}  // namespace

Status InitializeMetrics(std::string_view cluster, std::string_view node, int port) {
  MetricsConfig config;
  config.cluster = std::string(cluster);
  config.node = std::string(node);
  if (port < 0) {
    config.listen_address.clear();
  } else {
    const char* host = std::getenv("DWCP_METRICS_HOST");
    config.listen_address =
        std::string(host != nullptr && *host != '\0' ? host : "0.0.0.0") + ":" + std::to_string(port);
  }
  return InitializeMetrics(config);
}

Status InitializeMetrics(const MetricsConfig& config) {
  Library& lib = library();
  std::lock_guard<std::mutex> lock(lib.mutex);
  Status status;
  if (lib.model == nullptr) {
    ModelOptions options;
    options.cluster = config.cluster.empty() ? "default" : config.cluster;
    options.node = config.node.empty() ? "localhost" : config.node;
    options.max_label_values = config.max_label_values;
    options.clock = config.clock;
    lib.registry = std::make_shared<ModelRegistry>();
    lib.model = new MetricsModel(lib.registry, std::move(options));  // lives until exit
  } else if (lib.active.load() != nullptr) {
    status.message = "metrics already initialized: cluster and node of the first call are kept";
  }
  lib.active.store(lib.model, std::memory_order_release);

  if (!config.listen_address.empty() && !lib.server) {
    HttpOptions http;
    http.listen_address = config.listen_address;
    http.basic_auth_user = config.basic_auth_user;
    http.basic_auth_password = config.basic_auth_password;
    http.title = "DWCP metrics (dwcp-observer hook library)";
    auto started = HttpServer::start(http, {lib.registry});
    if (!started) {
      status.ok = false;
      status.message = started.error() + " (metrics are still recorded in-process)";
      return status;
    }
    lib.server = std::move(started).value();
    lib.server->set_ready(true);
  }
  return status;
}

Status ShutdownMetrics() {
  Library& lib = library();
  std::lock_guard<std::mutex> lock(lib.mutex);
  lib.active.store(nullptr, std::memory_order_release);
  lib.server.reset();
  return {};
}

bool MetricsActive() { return library().active.load() != nullptr; }

int MetricsPort() {
  Library& lib = library();
  std::lock_guard<std::mutex> lock(lib.mutex);
  return lib.server ? lib.server->port() : 0;
}

std::string MetricsText() {
  Library& lib = library();
  std::shared_ptr<ModelRegistry> registry;
  {
    std::lock_guard<std::mutex> lock(lib.mutex);
    registry = lib.registry;
  }
  return registry ? render_text({registry}) : std::string();
}

std::uint64_t IgnoredCalls() { return library().ignored.load(); }

void SetReady(bool ready, std::string_view reason_if_not_ready) {
  Library& lib = library();
  std::lock_guard<std::mutex> lock(lib.mutex);
  if (lib.server) lib.server->set_ready(ready, std::string(reason_if_not_ready));
}

// ---- AMST -------------------------------------------------------------------------------------

void AMSTMetricsWrapper::OnStreamStart(std::string_view streamID) const {
  record(StreamOpened{std::string(streamID), true});
}
void AMSTMetricsWrapper::OnStreamStartFailed(std::string_view streamID) const {
  record(StreamOpened{std::string(streamID), false});
}
void AMSTMetricsWrapper::OnStreamEnd(std::string_view streamID) const { record(StreamClosed{std::string(streamID)}); }
void AMSTMetricsWrapper::OnSessionClosed() const { record(AllStreamsClosed{}); }

void AMSTMetricsWrapper::OnStreamData(std::string_view streamID, std::int64_t bytesSent,
                                      std::int64_t bytesReceived) const {
  if (MetricsModel* model = recorder())
    model->stream_bytes(streamID, non_negative(*model, bytesSent), non_negative(*model, bytesReceived));
}

void AMSTMetricsWrapper::OnStreamError(std::string_view streamID, std::string_view errorType) const {
  record(StreamError{std::string(streamID), std::string(errorType)});
}

void AMSTMetricsWrapper::OnBandwidthUpdate(std::int64_t used, std::int64_t available) const {
  record(BandwidthUpdate{static_cast<double>(used), static_cast<double>(available)});
}

void AMSTMetricsWrapper::OnOperationLatency(std::string_view operation, double seconds) const {
  record(Latency{std::string(operation), seconds});
}

// ---- HDE --------------------------------------------------------------------------------------

void HDEMetricsWrapper::OnCompressionComplete(std::string_view dataType, std::int64_t originalBytes,
                                              std::int64_t compressedBytes, bool deltaHit) const {
  if (MetricsModel* model = recorder())
    model->compression_done(dataType, non_negative(*model, originalBytes), non_negative(*model, compressedBytes),
                            deltaHit);
}

void HDEMetricsWrapper::OnDecompressionComplete(bool success) const {
  record(DecompressionDone{success, "decode"});  // the original's operation name
}

void HDEMetricsWrapper::OnBaselineUpdate(std::string_view baselineType, std::int64_t count) const {
  record(BaselineCount{std::string(baselineType), count});
}

void HDEMetricsWrapper::OnDictionaryUpdate(double efficiency) const { record(DictionaryEfficiency{efficiency}); }

// ---- migration, federation, system -------------------------------------------------------------

void MigrationMetricsWrapper::OnMigrationStart(std::string_view migrationID) const {
  record(MigrationStarted{std::string(migrationID)});
}

void MigrationMetricsWrapper::OnMigrationComplete(std::string_view migrationID, std::string_view destNode,
                                                  bool dwcpEnabled) const {
  record(MigrationCompleted{std::string(migrationID), std::string(destNode), dwcpEnabled, -1});
}

void MigrationMetricsWrapper::OnSpeedupCalculated(std::string_view vmType, double speedupFactor) const {
  record(SpeedupCalculated{std::string(vmType), speedupFactor});
}

void FederationMetricsWrapper::OnFederationSync(std::string_view remoteCluster, std::string_view syncType,
                                                double seconds, std::int64_t bandwidthSavedBytes) const {
  if (MetricsModel* model = recorder())
    model->apply(FederationSync{std::string(remoteCluster), std::string(syncType), seconds,
                                non_negative(*model, bandwidthSavedBytes)});
}

void SystemMetricsWrapper::OnComponentHealthChange(std::string_view component, HealthStatus status) const {
  record(ComponentHealth{std::string(component), static_cast<int>(status)});
}

void SystemMetricsWrapper::OnFeatureToggle(std::string_view feature, bool enabled) const {
  record(FeatureToggle{std::string(feature), enabled});
}

void SetVersionInfo(std::string_view version, std::string_view gitCommit, std::string_view buildDate) {
  record(VersionInfo{std::string(version), std::string(gitCommit), std::string(buildDate)});
}

// ---- one-shot helpers -------------------------------------------------------------------------

void RecordStreamMetrics(std::string_view streamID, std::int64_t bytesSent, std::int64_t bytesReceived,
                         std::string_view errorType) {
  AMSTMetricsWrapper amst;
  if (!errorType.empty())
    amst.OnStreamError(streamID, errorType);
  else
    amst.OnStreamData(streamID, bytesSent, bytesReceived);
}

void RecordCompressionMetrics(std::string_view dataType, std::int64_t originalSize, std::int64_t compressedSize,
                              bool deltaHit) {
  HDEMetricsWrapper().OnCompressionComplete(dataType, originalSize, compressedSize, deltaHit);
}

void RecordComponentHealth(std::string_view component, bool healthy) {
  SystemMetricsWrapper().OnComponentHealthChange(component, healthy ? HealthStatus::Healthy : HealthStatus::Down);
}

void RecordFederationSync(std::string_view remoteCluster, std::string_view syncType, double seconds,
                          std::int64_t bandwidthSavedBytes) {
  FederationMetricsWrapper().OnFederationSync(remoteCluster, syncType, seconds, bandwidthSavedBytes);
}

}  // namespace dwcp
