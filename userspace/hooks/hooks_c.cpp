// The C ABI: thin, exception-free forwarding to the C++ hook API.
#include "dwcp_observer/hooks_c.h"

#include "dwcp_observer/hooks.h"

#include <cstring>
#include <mutex>
#include <string>

namespace {

std::string_view text(const char* s) { return s != nullptr ? std::string_view(s) : std::string_view(); }

// A counted string; a NULL pointer is "" whatever the length says.
std::string_view text(const char* s, size_t len) {
  return s != nullptr ? std::string_view(s, len) : std::string_view();
}

std::mutex error_mutex;
std::string last_error;

int report(const dwcp::Status& status) {
  std::lock_guard<std::mutex> lock(error_mutex);
  last_error = status.ok ? "" : status.message;
  return status.ok ? DWCP_OK : DWCP_ERR_LISTEN;
}

// No exception may cross the C boundary (a C or Go caller cannot catch it).
template <typename F>
void guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
  }
}

}  // namespace

extern "C" {

int dwcp_initialize_metrics(const char* cluster, const char* node, int port) {
  try {
    return report(dwcp::InitializeMetrics(text(cluster), text(node), port));
  } catch (const std::exception& e) {
    return report({false, e.what()});
  }
}

int dwcp_initialize_metrics_at(const char* cluster, const char* node, const char* listen_address) {
  try {
    dwcp::MetricsConfig config;
    config.cluster = std::string(text(cluster));
    config.node = std::string(text(node));
    config.listen_address = std::string(text(listen_address));
    return report(dwcp::InitializeMetrics(config));
  } catch (const std::exception& e) {
    return report({false, e.what()});
  }
}

int dwcp_shutdown_metrics(void) {
  guarded([] { dwcp::ShutdownMetrics(); });
  return DWCP_OK;
}

const char* dwcp_last_error(void) {
  std::lock_guard<std::mutex> lock(error_mutex);
  return last_error.c_str();
}

int dwcp_metrics_active(void) { return dwcp::MetricsActive() ? 1 : 0; }
int dwcp_metrics_port(void) { return dwcp::MetricsPort(); }

size_t dwcp_metrics_text(char* buffer, size_t size) {
  std::string body;
  guarded([&] { body = dwcp::MetricsText(); });
  if (buffer != nullptr && size > 0) {
    const size_t n = body.size() < size - 1 ? body.size() : size - 1;
    std::memcpy(buffer, body.data(), n);
    buffer[n] = '\0';
  }
  return body.size();
}

uint64_t dwcp_ignored_calls(void) { return dwcp::IgnoredCalls(); }
void dwcp_set_ready(int ready, const char* reason) {
  guarded([&] { dwcp::SetReady(ready != 0, text(reason)); });
}

void dwcp_on_stream_start(const char* id) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamStart(text(id)); });
}
void dwcp_on_stream_start_failed(const char* id) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamStartFailed(text(id)); });
}
void dwcp_on_stream_end(const char* id) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamEnd(text(id)); });
}
void dwcp_on_session_closed(void) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnSessionClosed(); });
}
void dwcp_on_stream_data(const char* id, int64_t sent, int64_t received) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamData(text(id), sent, received); });
}
void dwcp_on_stream_data_n(const char* id, size_t id_len, int64_t sent, int64_t received) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamData(text(id, id_len), sent, received); });
}
void dwcp_on_stream_error(const char* id, const char* error_type) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnStreamError(text(id), text(error_type)); });
}
void dwcp_on_bandwidth_update(int64_t used, int64_t available) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnBandwidthUpdate(used, available); });
}
void dwcp_on_operation_latency(const char* operation, double seconds) {
  guarded([&] { dwcp::AMSTMetricsWrapper().OnOperationLatency(text(operation), seconds); });
}

void dwcp_on_compression_complete(const char* data_type, int64_t original, int64_t compressed, int delta_hit) {
  guarded(
      [&] { dwcp::HDEMetricsWrapper().OnCompressionComplete(text(data_type), original, compressed, delta_hit != 0); });
}
void dwcp_on_compression_complete_n(const char* data_type, size_t data_type_len, int64_t original, int64_t compressed,
                                    int delta_hit) {
  guarded([&] {
    dwcp::HDEMetricsWrapper().OnCompressionComplete(text(data_type, data_type_len), original, compressed,
                                                    delta_hit != 0);
  });
}
void dwcp_on_decompression_complete(int success) {
  guarded([&] { dwcp::HDEMetricsWrapper().OnDecompressionComplete(success != 0); });
}
void dwcp_on_baseline_update(const char* baseline_type, int64_t count) {
  guarded([&] { dwcp::HDEMetricsWrapper().OnBaselineUpdate(text(baseline_type), count); });
}
void dwcp_on_dictionary_update(double efficiency) {
  guarded([&] { dwcp::HDEMetricsWrapper().OnDictionaryUpdate(efficiency); });
}

void dwcp_on_migration_start(const char* id) {
  guarded([&] { dwcp::MigrationMetricsWrapper().OnMigrationStart(text(id)); });
}
void dwcp_on_migration_complete(const char* id, const char* dest_node, int dwcp_enabled) {
  guarded([&] { dwcp::MigrationMetricsWrapper().OnMigrationComplete(text(id), text(dest_node), dwcp_enabled != 0); });
}
void dwcp_on_speedup_calculated(const char* vm_type, double factor) {
  guarded([&] { dwcp::MigrationMetricsWrapper().OnSpeedupCalculated(text(vm_type), factor); });
}
void dwcp_on_federation_sync(const char* remote_cluster, const char* sync_type, double seconds, int64_t saved) {
  guarded([&] {
    dwcp::FederationMetricsWrapper().OnFederationSync(text(remote_cluster), text(sync_type), seconds, saved);
  });
}
void dwcp_on_component_health_change(const char* component, int status) {
  guarded([&] {
    dwcp::SystemMetricsWrapper().OnComponentHealthChange(text(component), static_cast<dwcp::HealthStatus>(status));
  });
}
void dwcp_on_feature_toggle(const char* feature, int enabled) {
  guarded([&] { dwcp::SystemMetricsWrapper().OnFeatureToggle(text(feature), enabled != 0); });
}
void dwcp_set_version_info(const char* version, const char* git_commit, const char* build_date) {
  guarded([&] { dwcp::SetVersionInfo(text(version), text(git_commit), text(build_date)); });
}

void dwcp_record_stream_metrics(const char* id, int64_t sent, int64_t received, const char* error_type) {
  guarded([&] { dwcp::RecordStreamMetrics(text(id), sent, received, text(error_type)); });
}
void dwcp_record_compression_metrics(const char* data_type, int64_t original, int64_t compressed, int delta_hit) {
  guarded([&] { dwcp::RecordCompressionMetrics(text(data_type), original, compressed, delta_hit != 0); });
}
void dwcp_record_component_health(const char* component, int healthy) {
  guarded([&] { dwcp::RecordComponentHealth(text(component), healthy != 0); });
}

}  // extern "C"
