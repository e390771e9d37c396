// Cost of the hot hook calls and of a scrape. Run: build-model/tests/bench/bench_hooks
#include "dwcp_observer/hooks.h"
#include "dwcp_observer/model.h"

#include <benchmark/benchmark.h>

#include <array>
#include <string>

namespace {

// The library once per process, without HTTP server (we measure recording, not serving).
void initialize_once() {
  static const bool initialized = [] {
    dwcp::MetricsConfig config;
    config.listen_address.clear();
    return dwcp::InitializeMetrics(config).ok;
  }();
  if (!initialized) std::abort();
}

const std::array<std::string, 8> kStreams = {"0", "1", "2", "3", "4", "5", "6", "7"};

void BM_OnStreamData(benchmark::State& state) {
  initialize_once();
  dwcp::AMSTMetricsWrapper amst;
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) amst.OnStreamData(kStreams[i++ & 7], 65544, 0);
}
BENCHMARK(BM_OnStreamData)->Threads(1)->Threads(2)->UseRealTime();

void BM_OnCompressionComplete(benchmark::State& state) {
  initialize_once();
  dwcp::HDEMetricsWrapper hde;
  bool hit = state.thread_index() == 0;
  for (auto _ : state) {
    hde.OnCompressionComplete("vm_memory", 1 << 20, 1 << 17, hit);
    hit = !hit;
  }
}
BENCHMARK(BM_OnCompressionComplete)->Threads(1)->Threads(2)->UseRealTime();

// The model's hot path alone, without the hook layer.
void BM_ModelStreamBytes(benchmark::State& state) {
  static auto registry = std::make_shared<dwcp::ModelRegistry>();
  static dwcp::MetricsModel model(registry, dwcp::ModelOptions{});
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) model.stream_bytes(kStreams[i++ & 7], 65544, 0);
}
BENCHMARK(BM_ModelStreamBytes)->Threads(1)->Threads(2)->UseRealTime();

// A scrape (collect + text serialisation) of 10,000 series: 5,000 streams x (sent, received).
void BM_Scrape10kSeries(benchmark::State& state) {
  auto registry = std::make_shared<dwcp::ModelRegistry>();
  dwcp::ModelOptions options;
  options.max_label_values = 5000;
  dwcp::MetricsModel model(registry, options);
  for (int s = 0; s < 5000; ++s) model.stream_bytes("stream-" + std::to_string(s), 1000 + s, 10);
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = dwcp::render_text({registry});
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["exposition_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape10kSeries)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
