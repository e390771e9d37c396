// Package metrics is the Go API of DWCP's own metrics package
// (novacron's backend/core/network/dwcp/metrics, integration.go), name for name and signature
// for signature, implemented over dwcp-observer's hook library (libdwcp_hooks, its C ABI).
// Replacing DWCP's import of its metrics package with this one is the whole integration: the
// calls then feed the metrics model the dwcp-observer agent uses, so the process serves the
// same dwcp_* families, labels and buckets as the agent would for it (docs/go-fallback.md).
//
// Semantics are the hook library's (include/dwcp_observer/hooks.h): calls before the first
// InitializeMetrics or after ShutdownMetrics are ignored and counted (IgnoredCalls); values
// survive a shutdown; everything is safe for concurrent use. Where it differs from the
// original on purpose: data of a stream not yet started is counted, OnStreamEnd does not add a
// stream's bytes a second time, negative sizes count as 0 (and as invalid input).
//
// Cost: OnStreamData and OnCompressionComplete (and RecordStreamMetrics /
// RecordCompressionMetrics without an error) pass the id's bytes to C without a copy and
// allocate nothing; the library keeps its own copy of an id the first time it sees it. The
// other calls copy their strings to C (one small malloc each): they run per stream, per
// operation or per state change, not per chunk.
package metrics

// #include <stdlib.h>
// #include <dwcp_observer/hooks_c.h>
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// HealthStatus is a component's health as the original defines it: the
// dwcp_system_component_health gauge reads 0 down, 1 degraded, 2 healthy.
type HealthStatus int

// The original's constants.
const (
	HealthDown HealthStatus = iota
	HealthDegraded
	HealthHealthy
)

// initMu pairs an initialization with its dwcp_last_error message.
var initMu sync.Mutex

// InitializeMetrics starts recording and serves /metrics (also /health, /ready, /-/healthy,
// /-/ready) on port: port > 0 on $DWCP_METRICS_HOST (default 0.0.0.0, every interface, as the
// original) at that port, 0 on a free port (MetricsPort says which), < 0 no HTTP server. A
// port that cannot be bound is returned as an error, but recording is on anyway, and a later
// call may start the server. cluster and node of the first call stay for the process's life.
func InitializeMetrics(cluster, node string, port int) error {
	c, n := C.CString(cluster), C.CString(node)
	defer C.free(unsafe.Pointer(c))
	defer C.free(unsafe.Pointer(n))
	initMu.Lock()
	defer initMu.Unlock()
	if C.dwcp_initialize_metrics(c, n, C.int(port)) != C.DWCP_OK {
		return errors.New("dwcp metrics: " + C.GoString(C.dwcp_last_error()))
	}
	return nil
}

// ShutdownMetrics stops the HTTP server and recording. The values stay: a later
// InitializeMetrics continues the same counters.
func ShutdownMetrics() error {
	C.dwcp_shutdown_metrics()
	return nil
}

// MetricsActive reports whether calls are recorded (between InitializeMetrics and
// ShutdownMetrics). Not in the original.
func MetricsActive() bool { return C.dwcp_metrics_active() != 0 }

// MetricsPort is the bound HTTP port, 0 when no server runs. Not in the original.
func MetricsPort() int { return int(C.dwcp_metrics_port()) }

// MetricsText is what /metrics serves, also without an HTTP server. Not in the original.
func MetricsText() string {
	for {
		size := C.dwcp_metrics_text(nil, 0)
		buf := C.malloc(size + 1)
		full := C.dwcp_metrics_text((*C.char)(buf), size+1)
		text := C.GoStringN((*C.char)(buf), C.int(minSize(full, size)))
		C.free(buf)
		if full <= size { // nothing was added between the two calls
			return text
		}
	}
}

func minSize(a, b C.size_t) C.size_t {
	if a < b {
		return a
	}
	return b
}

// IgnoredCalls counts the calls made while not initialized. Not in the original.
func IgnoredCalls() uint64 { return uint64(C.dwcp_ignored_calls()) }

// SetReady makes /ready and /-/ready answer 503 with reason (ready=false) or 200 again.
// Not in the original.
func SetReady(ready bool, reasonIfNotReady string) {
	r := C.CString(reasonIfNotReady)
	defer C.free(unsafe.Pointer(r))
	C.dwcp_set_ready(cBool(ready), r)
}

// SetVersionInfo sets dwcp_system_version_info, as the original's package-level function. The
// hook library has one cluster, InitializeMetrics's: the cluster argument is not used.
func SetVersionInfo(cluster, version, gitCommit, buildDate string) {
	_ = cluster
	v, g, b := C.CString(version), C.CString(gitCommit), C.CString(buildDate)
	defer C.free(unsafe.Pointer(v))
	defer C.free(unsafe.Pointer(g))
	defer C.free(unsafe.Pointer(b))
	C.dwcp_set_version_info(v, g, b)
}

// AMSTMetricsWrapper records AMST (multi-stream transport) events. It holds no state: any
// number may exist, before or after InitializeMetrics, and a nil one works too.
type AMSTMetricsWrapper struct{}

// NewAMSTMetricsWrapper returns an AMST wrapper.
func NewAMSTMetricsWrapper() *AMSTMetricsWrapper { return &AMSTMetricsWrapper{} }

// OnStreamStart records a stream opened (streams_total{result="success"}, streams_active).
func (w *AMSTMetricsWrapper) OnStreamStart(streamID string) {
	withCString(streamID, func(s *C.char) { C.dwcp_on_stream_start(s) })
}

// OnStreamEnd records a stream closed and its duration (latency{operation="stream_duration"}).
func (w *AMSTMetricsWrapper) OnStreamEnd(streamID string) {
	withCString(streamID, func(s *C.char) { C.dwcp_on_stream_end(s) })
}

// OnStreamData adds bytes sent and received on a stream. The hot path: no allocation, no copy.
func (w *AMSTMetricsWrapper) OnStreamData(streamID string, bytesSent, bytesReceived int64) {
	C.dwcp_on_stream_data_n(stringData(streamID), C.size_t(len(streamID)), C.int64_t(bytesSent),
		C.int64_t(bytesReceived))
}

// OnStreamError counts an error of type errorType (dwcp_amst_errors_total{error_type}).
func (w *AMSTMetricsWrapper) OnStreamError(streamID, errorType string) {
	withCString(streamID, func(s *C.char) {
		withCString(errorType, func(e *C.char) { C.dwcp_on_stream_error(s, e) })
	})
}

// OnBandwidthUpdate sets dwcp_amst_bandwidth_utilization_percent to used/available × 100.
func (w *AMSTMetricsWrapper) OnBandwidthUpdate(used, available int64) {
	C.dwcp_on_bandwidth_update(C.int64_t(used), C.int64_t(available))
}

// OnStreamStartFailed records a stream that could not be opened
// (streams_total{result="failure"}). Not in the original wrapper: its package-level
// RecordAMSTStreamStart(success=false).
func (w *AMSTMetricsWrapper) OnStreamStartFailed(streamID string) {
	withCString(streamID, func(s *C.char) { C.dwcp_on_stream_start_failed(s) })
}

// OnOperationLatency observes an operation's duration in dwcp_amst_latency_seconds (the agent
// reports "send" and "receive"). Not in the original wrapper: its Collector's
// RecordOperationLatency.
func (w *AMSTMetricsWrapper) OnOperationLatency(operation string, seconds float64) {
	withCString(operation, func(o *C.char) { C.dwcp_on_operation_latency(o, C.double(seconds)) })
}

// OnSessionClosed ends every open stream at once, as MultiStreamTCP.Close does. Not in the
// original wrapper.
func (w *AMSTMetricsWrapper) OnSessionClosed() { C.dwcp_on_session_closed() }

// HDEMetricsWrapper records compression (HDE, delta encoding) events.
type HDEMetricsWrapper struct{}

// NewHDEMetricsWrapper returns an HDE wrapper.
func NewHDEMetricsWrapper() *HDEMetricsWrapper { return &HDEMetricsWrapper{} }

// OnCompressionComplete records one compression: bytes in and out, the ratio, the operation
// and the delta hit rate. The hot path: no allocation, no copy.
func (w *HDEMetricsWrapper) OnCompressionComplete(dataType string, originalBytes, compressedBytes int64, deltaHit bool) {
	C.dwcp_on_compression_complete_n(stringData(dataType), C.size_t(len(dataType)), C.int64_t(originalBytes),
		C.int64_t(compressedBytes), cBool(deltaHit))
}

// OnDecompressionComplete counts a decode (dwcp_hde_operations_total{operation="decode"}).
func (w *HDEMetricsWrapper) OnDecompressionComplete(success bool) {
	C.dwcp_on_decompression_complete(cBool(success))
}

// OnBaselineUpdate sets dwcp_hde_baseline_count{baseline_type}.
func (w *HDEMetricsWrapper) OnBaselineUpdate(baselineType string, count int) {
	withCString(baselineType, func(b *C.char) { C.dwcp_on_baseline_update(b, C.int64_t(count)) })
}

// OnDictionaryUpdate sets dwcp_hde_dictionary_efficiency_percent.
func (w *HDEMetricsWrapper) OnDictionaryUpdate(efficiency float64) {
	C.dwcp_on_dictionary_update(C.double(efficiency))
}

// MigrationMetricsWrapper records VM migrations.
type MigrationMetricsWrapper struct{}

// NewMigrationMetricsWrapper returns a migration wrapper.
func NewMigrationMetricsWrapper() *MigrationMetricsWrapper { return &MigrationMetricsWrapper{} }

// OnMigrationStart starts timing migrationID.
func (w *MigrationMetricsWrapper) OnMigrationStart(migrationID string) {
	withCString(migrationID, func(m *C.char) { C.dwcp_on_migration_start(m) })
}

// OnMigrationComplete observes the time since OnMigrationStart(migrationID) in
// dwcp_migration_duration_seconds{dest_node, dwcp_enabled}.
func (w *MigrationMetricsWrapper) OnMigrationComplete(migrationID, destNode string, dwcpEnabled bool) {
	withCString(migrationID, func(m *C.char) {
		withCString(destNode, func(d *C.char) { C.dwcp_on_migration_complete(m, d, cBool(dwcpEnabled)) })
	})
}

// OnSpeedupCalculated sets dwcp_migration_speedup_factor{vm_type}.
func (w *MigrationMetricsWrapper) OnSpeedupCalculated(vmType string, speedupFactor float64) {
	withCString(vmType, func(v *C.char) { C.dwcp_on_speedup_calculated(v, C.double(speedupFactor)) })
}

// FederationMetricsWrapper records federation syncs. Not in the original's integration.go (its
// Collector's RecordFederationSync), here so that every family has a Go caller.
type FederationMetricsWrapper struct{}

// NewFederationMetricsWrapper returns a federation wrapper.
func NewFederationMetricsWrapper() *FederationMetricsWrapper { return &FederationMetricsWrapper{} }

// OnFederationSync observes one sync with remoteCluster and the bandwidth it saved.
func (w *FederationMetricsWrapper) OnFederationSync(remoteCluster, syncType string, seconds float64,
	bandwidthSavedBytes int64) {
	withCString(remoteCluster, func(r *C.char) {
		withCString(syncType, func(s *C.char) {
			C.dwcp_on_federation_sync(r, s, C.double(seconds), C.int64_t(bandwidthSavedBytes))
		})
	})
}

// SystemMetricsWrapper records component health and feature switches.
type SystemMetricsWrapper struct{}

// NewSystemMetricsWrapper returns a system wrapper.
func NewSystemMetricsWrapper() *SystemMetricsWrapper { return &SystemMetricsWrapper{} }

// OnComponentHealthChange sets dwcp_system_component_health{component} to status.
func (w *SystemMetricsWrapper) OnComponentHealthChange(component string, status HealthStatus) {
	withCString(component, func(c *C.char) { C.dwcp_on_component_health_change(c, C.int(status)) })
}

// OnFeatureToggle sets dwcp_system_config_enabled{feature} to 0 or 1.
func (w *SystemMetricsWrapper) OnFeatureToggle(feature string, enabled bool) {
	withCString(feature, func(f *C.char) { C.dwcp_on_feature_toggle(f, cBool(enabled)) })
}

// RecordStreamMetrics records an error when errorType is not empty, else the bytes (as the
// original).
func RecordStreamMetrics(streamID string, bytesSent, bytesReceived int64, errorType string) {
	w := (*AMSTMetricsWrapper)(nil)
	if errorType != "" {
		w.OnStreamError(streamID, errorType)
	} else {
		w.OnStreamData(streamID, bytesSent, bytesReceived)
	}
}

// RecordCompressionMetrics is OnCompressionComplete (as the original).
func RecordCompressionMetrics(dataType string, originalSize, compressedSize int64, deltaHit bool) {
	(*HDEMetricsWrapper)(nil).OnCompressionComplete(dataType, originalSize, compressedSize, deltaHit)
}

// RecordComponentHealth sets a component HealthHealthy or HealthDown (as the original).
func RecordComponentHealth(component string, healthy bool) {
	status := HealthHealthy
	if !healthy {
		status = HealthDown
	}
	(*SystemMetricsWrapper)(nil).OnComponentHealthChange(component, status)
}

// RecordFederationSync is OnFederationSync. Not in the original's integration.go.
func RecordFederationSync(remoteCluster, syncType string, seconds float64, bandwidthSavedBytes int64) {
	(*FederationMetricsWrapper)(nil).OnFederationSync(remoteCluster, syncType, seconds, bandwidthSavedBytes)
}

// stringData is s's bytes as C sees them (not NUL-terminated: pass len(s) along), without a
// copy. C may read them during the call only, which cgo's pointer rules allow: string bytes
// hold no Go pointers. (unsafe.StringData needs Go 1.20; this reads the same word.)
func stringData(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return *(**C.char)(unsafe.Pointer(&s))
}

// withCString calls f with a NUL-terminated copy of s, freed afterwards.
func withCString(s string, f func(*C.char)) {
	c := C.CString(s)
	defer C.free(unsafe.Pointer(c))
	f(c)
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
