// Several threads record at once while Prometheus-like scrapes run: nothing is lost.
#include "example_support.h"

#include <atomic>
#include <thread>
#include <vector>

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  constexpr int kThreads = 4;
  constexpr int kChunks = 10000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done) example::scrape();
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t)
    senders.emplace_back([t] {
      dwcp::AMSTMetricsWrapper amst;
      const std::string stream = std::to_string(t);
      amst.OnStreamStart(stream);
      for (int i = 0; i < kChunks; ++i) amst.OnStreamData(stream, 1024, 0);
    });
  for (auto& sender : senders) sender.join();
  done = true;
  scraper.join();

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  for (int t = 0; t < kThreads; ++t)
    check.series(text, "dwcp_amst_bytes_sent_total{" + base + ",stream_id=\"" + std::to_string(t) + "\"}",
                 1024.0 * kChunks);
  check.series(text, "dwcp_amst_streams_active{" + base + "}", kThreads);
  dwcp::AMSTMetricsWrapper().OnSessionClosed();  // MultiStreamTCP.Close: every stream ends
  check.series(example::scrape(), "dwcp_amst_streams_active{" + base + "}", 0);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
