// Command dwcp-metrics-replay drives the dwcpmetrics package (the original DWCP metrics API over
// the hook library) with a recorded workload and serves or prints its /metrics: the Go side of
// the cross-language parity tests (tests/gobind).
//
//	dwcp-metrics-replay --script calls.txt          one API call a line (testdata/parity_calls.txt)
//	dwcp-metrics-replay --truth truth.json          a DWCP fixture run's ground truth, told as a
//	                                                transport integration would have told it
//
// With --port N (0 = a free one) it serves /metrics, prints "LISTENING <port>" and runs until
// SIGTERM or SIGINT; without, it prints the exposition and exits.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	metrics "github.com/dwcp-observer/dwcp-observer/bindings/go/dwcpmetrics"
)

func main() {
	script := flag.String("script", "", "file of API calls, one a line")
	truth := flag.String("truth", "", "ground truth JSON of a dwcp-fixture run")
	cluster := flag.String("cluster", "default", "cluster label")
	node := flag.String("node", "localhost", "node label")
	port := flag.Int("port", -1, "serve /metrics on this port (0: a free one) instead of printing it")
	flag.Parse()
	if (*script == "") == (*truth == "") {
		fmt.Fprintln(os.Stderr, "dwcp-metrics-replay: give exactly one of --script and --truth")
		os.Exit(2)
	}
	if err := metrics.InitializeMetrics(*cluster, *node, *port); err != nil {
		fmt.Fprintln(os.Stderr, "dwcp-metrics-replay:", err)
		os.Exit(1)
	}
	var err error
	if *script != "" {
		err = replayScript(*script)
	} else {
		err = replayTruth(*truth)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dwcp-metrics-replay:", err)
		os.Exit(1)
	}
	if *port < 0 {
		fmt.Print(metrics.MetricsText())
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("LISTENING %d\n", metrics.MetricsPort())
	<-stop
	metrics.ShutdownMetrics()
}

// replayScript runs each line "Call arg..." ("" is an empty argument, # starts a comment).
func replayScript(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		for i, field := range fields {
			if field == `""` {
				fields[i] = ""
			}
		}
		if err := call(fields[0], args(fields[1:])); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
	}
	return scanner.Err()
}

// args reads a call's arguments by position; a script with a bad number is a broken test.
type args []string

func (a args) s(i int) string { return a[i] }
func (a args) i(i int) int64 {
	v, err := strconv.ParseInt(a[i], 10, 64)
	mustParse(err)
	return v
}
func (a args) f(i int) float64 {
	v, err := strconv.ParseFloat(a[i], 64)
	mustParse(err)
	return v
}

func mustParse(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "dwcp-metrics-replay:", err)
		os.Exit(2)
	}
}
func (a args) b(i int) bool { return a[i] == "1" }

var arity = map[string]int{
	"OnStreamStart": 1, "OnStreamStartFailed": 1, "OnStreamEnd": 1, "OnSessionClosed": 0, "OnStreamData": 3,
	"OnStreamError": 2, "OnBandwidthUpdate": 2, "OnOperationLatency": 2, "OnCompressionComplete": 4,
	"OnDecompressionComplete": 1, "OnBaselineUpdate": 2, "OnDictionaryUpdate": 1, "OnMigrationStart": 1,
	"OnMigrationComplete": 3, "OnSpeedupCalculated": 2, "OnFederationSync": 4, "OnComponentHealthChange": 2,
	"OnFeatureToggle": 2, "SetVersionInfo": 3, "RecordStreamMetrics": 4, "RecordCompressionMetrics": 4,
	"RecordComponentHealth": 2,
}

func call(name string, a args) error {
	want, known := arity[name]
	if !known {
		return fmt.Errorf("unknown call %q", name)
	}
	if len(a) != want {
		return fmt.Errorf("%s takes %d arguments, got %d", name, want, len(a))
	}
	amst, hde := metrics.NewAMSTMetricsWrapper(), metrics.NewHDEMetricsWrapper()
	migration, federation, system := metrics.NewMigrationMetricsWrapper(), metrics.NewFederationMetricsWrapper(),
		metrics.NewSystemMetricsWrapper()
	switch name {
	case "OnStreamStart":
		amst.OnStreamStart(a.s(0))
	case "OnStreamStartFailed":
		amst.OnStreamStartFailed(a.s(0))
	case "OnStreamEnd":
		amst.OnStreamEnd(a.s(0))
	case "OnSessionClosed":
		amst.OnSessionClosed()
	case "OnStreamData":
		amst.OnStreamData(a.s(0), a.i(1), a.i(2))
	case "OnStreamError":
		amst.OnStreamError(a.s(0), a.s(1))
	case "OnBandwidthUpdate":
		amst.OnBandwidthUpdate(a.i(0), a.i(1))
	case "OnOperationLatency":
		amst.OnOperationLatency(a.s(0), a.f(1))
	case "OnCompressionComplete":
		hde.OnCompressionComplete(a.s(0), a.i(1), a.i(2), a.b(3))
	case "OnDecompressionComplete":
		hde.OnDecompressionComplete(a.b(0))
	case "OnBaselineUpdate":
		hde.OnBaselineUpdate(a.s(0), int(a.i(1)))
	case "OnDictionaryUpdate":
		hde.OnDictionaryUpdate(a.f(0))
	case "OnMigrationStart":
		migration.OnMigrationStart(a.s(0))
	case "OnMigrationComplete":
		migration.OnMigrationComplete(a.s(0), a.s(1), a.b(2))
	case "OnSpeedupCalculated":
		migration.OnSpeedupCalculated(a.s(0), a.f(1))
	case "OnFederationSync":
		federation.OnFederationSync(a.s(0), a.s(1), a.f(2), a.i(3))
	case "OnComponentHealthChange":
		system.OnComponentHealthChange(a.s(0), metrics.HealthStatus(a.i(1)))
	case "OnFeatureToggle":
		system.OnFeatureToggle(a.s(0), a.b(1))
	case "SetVersionInfo":
		metrics.SetVersionInfo("", a.s(0), a.s(1), a.s(2))
	case "RecordStreamMetrics":
		metrics.RecordStreamMetrics(a.s(0), a.i(1), a.i(2), a.s(3))
	case "RecordCompressionMetrics":
		metrics.RecordCompressionMetrics(a.s(0), a.i(1), a.i(2), a.b(3))
	case "RecordComponentHealth":
		metrics.RecordComponentHealth(a.s(0), a.b(1))
	}
	return nil
}

// The fields of dwcp-fixture's truth file (tests/fixtures/dwcp/cmd/dwcp-fixture/truth.go) that
// a transport integration reports.
type truthFile struct {
	StreamsOpened          int64            `json:"streams_opened"`
	StreamsOpenFailed      int64            `json:"streams_open_failed"`
	StreamsClosed          int64            `json:"streams_closed"`
	BytesSentPerStream     map[string]int64 `json:"bytes_sent_per_stream"`
	BytesReceivedPerStream map[string]int64 `json:"bytes_received_per_stream"`
}

// replayTruth tells a fixture run through the AMST wrapper as DWCP's transport would with this
// package: createStream calls OnStreamStart (or OnStreamStartFailed), sendChunk and
// receiveChunk OnStreamData with len(chunk)+8 (DWCP's own per-stream figures), Close
// OnStreamEnd for each of its streams. Sums per stream id stand for the calls per chunk.
func replayTruth(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var t truthFile
	if err := json.Unmarshal(data, &t); err != nil {
		return err
	}
	if t.StreamsClosed > t.StreamsOpened {
		return errors.New("truth closes more streams than it opens")
	}
	amst := metrics.NewAMSTMetricsWrapper()
	// The stream ids of the open/close calls only key the open-stream table here (ids repeat
	// across sessions): give each opened stream its own.
	for i := int64(0); i < t.StreamsOpened; i++ {
		amst.OnStreamStart("open-" + strconv.FormatInt(i, 10))
	}
	for i := int64(0); i < t.StreamsOpenFailed; i++ {
		amst.OnStreamStartFailed("failed-" + strconv.FormatInt(i, 10))
	}
	for _, id := range sortedKeys(t.BytesSentPerStream) {
		amst.OnStreamData(id, t.BytesSentPerStream[id], 0)
	}
	for _, id := range sortedKeys(t.BytesReceivedPerStream) {
		amst.OnStreamData(id, 0, t.BytesReceivedPerStream[id])
	}
	for i := int64(0); i < t.StreamsClosed; i++ {
		amst.OnStreamEnd("open-" + strconv.FormatInt(i, 10))
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
