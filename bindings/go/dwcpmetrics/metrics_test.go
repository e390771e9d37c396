package metrics

// The library is a process singleton, so these tests run in order in one process: first what
// happens before InitializeMetrics, last ShutdownMetrics. Each later test initializes on its
// own when run alone (go test -run).

import (
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const labels = `cluster="go-test",node="n1"`

func TestMain(m *testing.M) {
	os.Setenv("DWCP_METRICS_HOST", "127.0.0.1") // never every interface in a test
	os.Exit(m.Run())
}

func ensureInit(t *testing.T) {
	t.Helper()
	if !MetricsActive() {
		if err := InitializeMetrics("go-test", "n1", 0); err != nil {
			t.Fatal(err)
		}
	}
}

// hasLine reports whether the exposition has exactly this sample line.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func expectLines(t *testing.T, lines ...string) {
	t.Helper()
	text := MetricsText()
	for _, line := range lines {
		if !hasLine(text, line) {
			t.Errorf("missing %q in /metrics:\n%q", line, grepDWCP(text, strings.SplitN(line, "{", 2)[0]))
		}
	}
}

func grepDWCP(text, family string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, family) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestCallsBeforeInitializeAreIgnoredAndCounted(t *testing.T) {
	if MetricsActive() {
		t.Skip("initialized by an earlier test")
	}
	before := IgnoredCalls()
	NewAMSTMetricsWrapper().OnStreamData("early", 1, 1)
	RecordComponentHealth("amst", true)
	if got := IgnoredCalls() - before; got != 2 {
		t.Errorf("ignored calls: %d, want 2", got)
	}
}

func TestInitializeOnABusyPortFailsButRecords(t *testing.T) {
	if MetricsActive() {
		t.Skip("initialized by an earlier test")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	if err := InitializeMetrics("go-test", "n1", port); err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("InitializeMetrics on a busy port: %v, want an error naming the port", err)
	}
	if !MetricsActive() {
		t.Error("recording is off after a failed listen")
	}
	// A later call with a free port starts the server; cluster and node stay.
	if err := InitializeMetrics("other", "other", 0); err != nil {
		t.Fatal(err)
	}
	if MetricsPort() == 0 {
		t.Error("no port bound")
	}
}

func TestMetricsAreServedOverHTTP(t *testing.T) {
	ensureInit(t)
	NewAMSTMetricsWrapper().OnStreamData("http-1", 123, 0)
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(MetricsPort()) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !hasLine(string(body), `dwcp_amst_bytes_sent_total{`+labels+`,stream_id="http-1"} 123`) {
		t.Errorf("GET /metrics: %d\n%s", resp.StatusCode, grepDWCP(string(body), "dwcp_amst_bytes_sent_total"))
	}
}

// Every call of the API lands in its family with the original's labels.
func TestEveryCallFeedsItsFamily(t *testing.T) {
	ensureInit(t)
	amst, hde := NewAMSTMetricsWrapper(), NewHDEMetricsWrapper()
	migration, system, federation := NewMigrationMetricsWrapper(), NewSystemMetricsWrapper(), NewFederationMetricsWrapper()

	amst.OnStreamStart("fam-1")
	amst.OnStreamData("fam-1", 1000, 24)
	amst.OnStreamError("fam-1", "fam_timeout")
	amst.OnBandwidthUpdate(25, 100)
	amst.OnOperationLatency("fam_op", 0.003)
	amst.OnStreamStartFailed("fam-2")
	RecordStreamMetrics("fam-3", 7, 8, "")
	RecordStreamMetrics("fam-3", 7, 8, "fam_reset")
	amst.OnStreamEnd("fam-1")

	hde.OnCompressionComplete("fam_memory", 4000, 1000, true)
	RecordCompressionMetrics("fam_memory", 3000, 1000, false)
	hde.OnDecompressionComplete(false)
	hde.OnBaselineUpdate("fam_baseline", 3)
	hde.OnDictionaryUpdate(87.5)

	migration.OnMigrationStart("fam-vm")
	migration.OnMigrationComplete("fam-vm", "fam-node", true)
	migration.OnSpeedupCalculated("fam_vm_type", 2.5)
	federation.OnFederationSync("fam-cluster", "state", 0.02, 4096)
	RecordFederationSync("fam-cluster", "state", 0.02, 1)

	system.OnComponentHealthChange("fam_degraded", HealthDegraded)
	RecordComponentHealth("fam_down", false)
	RecordComponentHealth("fam_up", true)
	system.OnFeatureToggle("fam_feature", true)
	SetVersionInfo("ignored", "v9.9.9", "fam1234", "2025-01-01")

	expectLines(t,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="fam-1"} 1000`,
		`dwcp_amst_bytes_received_total{`+labels+`,stream_id="fam-1"} 24`,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="fam-3"} 7`,
		`dwcp_amst_errors_total{`+labels+`,error_type="fam_timeout"} 1`,
		`dwcp_amst_errors_total{`+labels+`,error_type="fam_reset"} 1`,
		`dwcp_amst_bandwidth_utilization_percent{`+labels+`} 25`,
		`dwcp_amst_latency_seconds_count{`+labels+`,operation="fam_op"} 1`,
		`dwcp_amst_latency_seconds_bucket{`+labels+`,operation="fam_op",le="0.004"} 1`,
		`dwcp_amst_latency_seconds_count{`+labels+`,operation="stream_duration"} 1`,
		`dwcp_hde_bytes_original_total{`+labels+`,data_type="fam_memory"} 7000`,
		`dwcp_hde_bytes_compressed_total{`+labels+`,data_type="fam_memory"} 2000`,
		`dwcp_hde_compression_ratio_bucket{`+labels+`,data_type="fam_memory",le="3"} 1`,
		`dwcp_hde_compression_ratio_bucket{`+labels+`,data_type="fam_memory",le="4"} 2`,
		`dwcp_hde_operations_total{`+labels+`,operation="decode",result="failure"} 1`,
		`dwcp_hde_baseline_count{`+labels+`,baseline_type="fam_baseline"} 3`,
		`dwcp_hde_dictionary_efficiency_percent{`+labels+`} 87.5`,
		`dwcp_migration_duration_seconds_count{cluster="go-test",source_node="n1",dest_node="fam-node",dwcp_enabled="true"} 1`,
		`dwcp_migration_speedup_factor{cluster="go-test",vm_type="fam_vm_type"} 2.5`,
		`dwcp_federation_sync_duration_seconds_count{cluster="go-test",remote_cluster="fam-cluster",sync_type="state"} 2`,
		`dwcp_federation_bandwidth_saved_bytes_total{cluster="go-test",remote_cluster="fam-cluster"} 4097`,
		`dwcp_system_component_health{`+labels+`,component="fam_degraded"} 1`,
		`dwcp_system_component_health{`+labels+`,component="fam_down"} 0`,
		`dwcp_system_component_health{`+labels+`,component="fam_up"} 2`,
		`dwcp_system_config_enabled{`+labels+`,feature="fam_feature"} 1`,
		`dwcp_system_version_info{cluster="go-test",version="v9.9.9",git_commit="fam1234",build_date="2025-01-01"} 1`,
	)
}

// Many goroutines on the same ids: nothing lost (and, under -race, no data race in the binding).
func TestConcurrentUpdatesAreExact(t *testing.T) {
	ensureInit(t)
	const goroutines, calls = 8, 5000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			amst, hde := NewAMSTMetricsWrapper(), NewHDEMetricsWrapper()
			id := "conc-" + strconv.Itoa(g%2)
			for i := 0; i < calls; i++ {
				amst.OnStreamData(id, 3, 1)
				hde.OnCompressionComplete("conc_type", 10, 5, i%2 == 0)
			}
		}(g)
	}
	wg.Wait()
	per := strconv.Itoa(goroutines / 2 * calls * 3)
	expectLines(t,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="conc-0"} `+per,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="conc-1"} `+per,
		`dwcp_hde_bytes_original_total{`+labels+`,data_type="conc_type"} `+strconv.Itoa(goroutines*calls*10),
	)
}

// The hot paths allocate nothing per call: no C string copies, no boxing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	ensureInit(t)
	amst, hde := NewAMSTMetricsWrapper(), NewHDEMetricsWrapper()
	id := strconv.Itoa(40000 + os.Getpid()%1000) // built at run time, on the heap
	for name, call := range map[string]func(){
		"OnStreamData":             func() { amst.OnStreamData(id, 64, 0) },
		"OnCompressionComplete":    func() { hde.OnCompressionComplete("alloc_type", 100, 40, true) },
		"RecordStreamMetrics":      func() { RecordStreamMetrics(id, 0, 64, "") },
		"RecordCompressionMetrics": func() { RecordCompressionMetrics("alloc_type", 100, 40, false) },
	} {
		if allocs := testing.AllocsPerRun(1000, call); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}

// Ids with a byte C would stop at arrive whole (the hot paths pass a length), and an empty id
// is "unknown" as in every other path.
func TestCountedIdsArriveWhole(t *testing.T) {
	ensureInit(t)
	amst := NewAMSTMetricsWrapper()
	amst.OnStreamData("with\x00nul", 5, 0)
	amst.OnStreamData("", 6, 0)
	expectLines(t,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="with`+"\x00"+`nul"} 5`,
		`dwcp_amst_bytes_sent_total{`+labels+`,stream_id="unknown"} 6`,
	)
}

// Last: ShutdownMetrics keeps the values, ignores calls; InitializeMetrics continues them.
func TestShutdownKeepsValuesAndALaterInitializeContinues(t *testing.T) {
	ensureInit(t)
	amst := NewAMSTMetricsWrapper()
	amst.OnStreamData("shut-1", 10, 0)
	if err := ShutdownMetrics(); err != nil {
		t.Fatal(err)
	}
	if MetricsActive() || MetricsPort() != 0 {
		t.Error("still active or serving after ShutdownMetrics")
	}
	before := IgnoredCalls()
	amst.OnStreamData("shut-1", 10, 0)
	if IgnoredCalls() != before+1 {
		t.Error("a call after shutdown was not counted as ignored")
	}
	expectLines(t, `dwcp_amst_bytes_sent_total{`+labels+`,stream_id="shut-1"} 10`)
	ensureInit(t)
	amst.OnStreamData("shut-1", 10, 0)
	expectLines(t, `dwcp_amst_bytes_sent_total{`+labels+`,stream_id="shut-1"} 20`)
}
