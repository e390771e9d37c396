// The hook library: the in-process fallback of dwcp-observer, for hosts where eBPF cannot run.
// Its API mirrors the original DWCP metrics package (backend/core/network/dwcp/metrics,
// integration.go) one to one: InitializeMetrics / ShutdownMetrics, the four wrappers and the
// one-shot helpers. Every call becomes the same typed model event the eBPF agent produces
// (include/dwcp_observer/model.h), so both sources give identical series.
//
// Lifecycle (decided here, tested in tests/hooks):
//  - InitializeMetrics creates the metrics model on its first call and starts the HTTP server
//    (/metrics, /-/healthy, /-/ready, /health, /ready, /). A port in use is returned as an error
//    Status; the model is active anyway, so nothing recorded is lost and a later
//    InitializeMetrics with another port can still start the server.
//  - ShutdownMetrics stops the server and deactivates recording. The values stay: a later
//    InitializeMetrics reactivates the same model (counters keep counting up, as Prometheus
//    expects of a restarted exporter that did not restart its process). cluster/node of the
//    first InitializeMetrics stay for the life of the process.
//  - Calls before the first InitializeMetrics or after ShutdownMetrics are ignored and counted
//    (IgnoredCalls()). Wrappers may be constructed at any time: they hold no state.
//  - Everything is thread-safe. OnStreamData and OnCompressionComplete take no lock once a
//    stream id / data type has been seen.
//
// Differences from the original, on purpose: data of a stream not (yet) started is counted (the
// original drops it); OnStreamEnd does not add the stream's bytes a second time (the original
// double counts them); negative sizes are clamped to 0 and counted as invalid instead of
// decrementing counters (which Prometheus client_golang would panic on).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

// libdwcp_hooks.so exports this API and nothing else.
#pragma GCC visibility push(default)

namespace dwcp {

// Outcome of InitializeMetrics / ShutdownMetrics: ok, or a message saying what is wrong and
// what to do.
struct Status {
  bool ok = true;
  std::string message;
  explicit operator bool() const { return ok; }
};

struct MetricsConfig {
  std::string cluster = "default";
  std::string node = "localhost";
  // HTTP listen address "IPV4:PORT" (port 0 = a free port); empty = no HTTP server (the
  // registry is still readable with MetricsText()).
  std::string listen_address = "0.0.0.0:9090";
  std::string basic_auth_user;  // basic auth for /metrics when both are set
  std::string basic_auth_password;
  std::size_t max_label_values = 64;  // distinct values kept per free-form label
  // Time source of the durations measured in-process (stream open->end, migration
  // start->complete). Empty = steady_clock. Tests pass a fake clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// The original's signature. port > 0: listen there; 0: a free port (MetricsPort() tells which);
// < 0: no HTTP server. The host is $DWCP_METRICS_HOST when set, else 0.0.0.0 (every interface,
// as the original).
Status InitializeMetrics(std::string_view cluster, std::string_view node, int port);
Status InitializeMetrics(const MetricsConfig& config);
Status ShutdownMetrics();

bool MetricsActive();          // between a InitializeMetrics and a ShutdownMetrics
int MetricsPort();             // the bound HTTP port, 0 when no server runs
std::string MetricsText();     // what /metrics serves (empty before the first Init)
std::uint64_t IgnoredCalls();  // calls ignored because the library was not active
// /-/ready answers 200 from InitializeMetrics on; a program may report itself not ready.
void SetReady(bool ready, std::string_view reason_if_not_ready = "not ready");

enum class HealthStatus : int { Down = 0, Degraded = 1, Healthy = 2 };

class AMSTMetricsWrapper {
 public:
  void OnStreamStart(std::string_view streamID) const;
  void OnStreamEnd(std::string_view streamID) const;
  void OnStreamData(std::string_view streamID, std::int64_t bytesSent, std::int64_t bytesReceived) const;
  void OnStreamError(std::string_view streamID, std::string_view errorType) const;
  void OnBandwidthUpdate(std::int64_t used, std::int64_t available) const;
  // Beyond the original wrapper (its package-level RecordAMSTStreamStart(success=false),
  // Collector.RecordOperationLatency, and MultiStreamTCP.Close which ends every stream):
  void OnStreamStartFailed(std::string_view streamID) const;
  void OnOperationLatency(std::string_view operation, double seconds) const;
  void OnSessionClosed() const;
};

class HDEMetricsWrapper {
 public:
  void OnCompressionComplete(std::string_view dataType, std::int64_t originalBytes, std::int64_t compressedBytes,
                             bool deltaHit) const;
  void OnDecompressionComplete(bool success) const;
  void OnBaselineUpdate(std::string_view baselineType, std::int64_t count) const;
  void OnDictionaryUpdate(double efficiency) const;
};

class MigrationMetricsWrapper {
 public:
  void OnMigrationStart(std::string_view migrationID) const;
  void OnMigrationComplete(std::string_view migrationID, std::string_view destNode, bool dwcpEnabled) const;
  void OnSpeedupCalculated(std::string_view vmType, double speedupFactor) const;
};

class FederationMetricsWrapper {
 public:
  // The original's Collector.RecordFederationSync(remoteCluster, syncType, duration, saved).
  void OnFederationSync(std::string_view remoteCluster, std::string_view syncType, double seconds,
                        std::int64_t bandwidthSavedBytes) const;
};

class SystemMetricsWrapper {
 public:
  void OnComponentHealthChange(std::string_view component, HealthStatus status) const;
  void OnFeatureToggle(std::string_view feature, bool enabled) const;
};

// The original's package-level SetVersionInfo (its cluster comes from InitializeMetrics).
void SetVersionInfo(std::string_view version, std::string_view gitCommit, std::string_view buildDate);

// One-shot helpers of the original.
// errorType non-empty: records an error, else the bytes (as the original).
void RecordStreamMetrics(std::string_view streamID, std::int64_t bytesSent, std::int64_t bytesReceived,
                         std::string_view errorType);
void RecordCompressionMetrics(std::string_view dataType, std::int64_t originalSize, std::int64_t compressedSize,
                              bool deltaHit);
void RecordComponentHealth(std::string_view component, bool healthy);  // Healthy or Down
void RecordFederationSync(std::string_view remoteCluster, std::string_view syncType, double seconds,
                          std::int64_t bandwidthSavedBytes);

}  // namespace dwcp

#pragma GCC visibility pop
