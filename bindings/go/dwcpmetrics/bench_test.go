package metrics

// Cost of each call from Go (cgo call included), for docs/performance.md:
//   go test -run '^$' -bench . -benchmem -count 5
// The ids repeat, as DWCP's stream ids and data types do.

import "testing"

func benchInit(b *testing.B) {
	if !MetricsActive() {
		if err := InitializeMetrics("go-bench", "n1", -1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOnStreamData(b *testing.B) {
	benchInit(b)
	w := NewAMSTMetricsWrapper()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.OnStreamData("3", 65544, 0)
	}
}

func BenchmarkOnStreamDataParallel(b *testing.B) {
	benchInit(b)
	w := NewAMSTMetricsWrapper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.OnStreamData("3", 65544, 0)
		}
	})
}

func BenchmarkOnCompressionComplete(b *testing.B) {
	benchInit(b)
	w := NewHDEMetricsWrapper()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.OnCompressionComplete("vm_memory", 4096, 1024, i&1 == 0)
	}
}

func BenchmarkOnCompressionCompleteParallel(b *testing.B) {
	benchInit(b)
	w := NewHDEMetricsWrapper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.OnCompressionComplete("vm_memory", 4096, 1024, true)
		}
	})
}

// A call that copies its string to C (per stream or operation, not per chunk): for comparison.
func BenchmarkOnStreamError(b *testing.B) {
	benchInit(b)
	w := NewAMSTMetricsWrapper()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.OnStreamError("3", "timeout")
	}
}
