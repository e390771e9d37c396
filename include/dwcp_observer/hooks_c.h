/* C ABI of the dwcp-observer hook library (libdwcp_hooks.so), for C programs and Go (cgo).
 * One function per call of the C++ API (dwcp_observer/hooks.h), same semantics: see there for
 * the lifecycle (calls before init / after shutdown are ignored and counted, values survive a
 * shutdown). NULL strings are treated as empty (recorded as "unknown" and counted invalid).
 * Thread-safe. */
#ifndef DWCP_OBSERVER_HOOKS_C_H
#define DWCP_OBSERVER_HOOKS_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default) /* libdwcp_hooks.so exports this API and nothing else */

/* Status codes. */
#define DWCP_OK 0
#define DWCP_ERR_LISTEN (-1) /* HTTP server not started (port in use, bad address); metrics still recorded */

/* port > 0: listen on $DWCP_METRICS_HOST (default 0.0.0.0) at port; 0: a free port; < 0: no
 * HTTP server. Returns DWCP_OK or DWCP_ERR_LISTEN (message: dwcp_last_error()). */
int dwcp_initialize_metrics(const char* cluster, const char* node, int port);
/* Same with an explicit "IPV4:PORT" listen address (NULL or "" = no HTTP server). */
int dwcp_initialize_metrics_at(const char* cluster, const char* node, const char* listen_address);
int dwcp_shutdown_metrics(void);
/* Message of the last failed initialization, "" if none. Valid until the next init call. */
const char* dwcp_last_error(void);
int dwcp_metrics_active(void);
int dwcp_metrics_port(void);
/* Copies what /metrics serves into buffer (NUL-terminated, truncated to size-1); returns the
 * full length, so a call with (NULL, 0) asks for the size. */
size_t dwcp_metrics_text(char* buffer, size_t size);
uint64_t dwcp_ignored_calls(void);
void dwcp_set_ready(int ready, const char* reason_if_not_ready);

/* AMST */
void dwcp_on_stream_start(const char* stream_id);
void dwcp_on_stream_start_failed(const char* stream_id);
void dwcp_on_stream_end(const char* stream_id);
void dwcp_on_session_closed(void);
void dwcp_on_stream_data(const char* stream_id, int64_t bytes_sent, int64_t bytes_received);
void dwcp_on_stream_error(const char* stream_id, const char* error_type);
void dwcp_on_bandwidth_update(int64_t used, int64_t available);
/* dwcp_on_stream_data with a counted id (not NUL-terminated; NULL = "" whatever the length): for
 * callers whose strings carry a length, such as Go, which can then pass their bytes without a
 * copy. The library does not keep the pointer. (Added after 0.1.0: existing calls unchanged.) */
void dwcp_on_stream_data_n(const char* stream_id, size_t stream_id_len, int64_t bytes_sent, int64_t bytes_received);
void dwcp_on_operation_latency(const char* operation, double seconds);

/* HDE */
void dwcp_on_compression_complete(const char* data_type, int64_t original_bytes, int64_t compressed_bytes,
                                  int delta_hit);
/* dwcp_on_compression_complete with a counted data type (see dwcp_on_stream_data_n). */
void dwcp_on_compression_complete_n(const char* data_type, size_t data_type_len, int64_t original_bytes,
                                    int64_t compressed_bytes, int delta_hit);
void dwcp_on_decompression_complete(int success);
void dwcp_on_baseline_update(const char* baseline_type, int64_t count);
void dwcp_on_dictionary_update(double efficiency);

/* Migration, federation, system */
void dwcp_on_migration_start(const char* migration_id);
void dwcp_on_migration_complete(const char* migration_id, const char* dest_node, int dwcp_enabled);
void dwcp_on_speedup_calculated(const char* vm_type, double speedup_factor);
void dwcp_on_federation_sync(const char* remote_cluster, const char* sync_type, double seconds,
                             int64_t bandwidth_saved_bytes);
/* status: 0 down, 1 degraded, 2 healthy */
void dwcp_on_component_health_change(const char* component, int status);
void dwcp_on_feature_toggle(const char* feature, int enabled);
void dwcp_set_version_info(const char* version, const char* git_commit, const char* build_date);

/* One-shot helpers */
void dwcp_record_stream_metrics(const char* stream_id, int64_t bytes_sent, int64_t bytes_received,
                                const char* error_type);
void dwcp_record_compression_metrics(const char* data_type, int64_t original_size, int64_t compressed_size,
                                     int delta_hit);
void dwcp_record_component_health(const char* component, int healthy);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* DWCP_OBSERVER_HOOKS_C_H */
