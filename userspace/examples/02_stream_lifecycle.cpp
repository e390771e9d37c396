// AMST streams: start, transfer, end. Active streams and stream durations follow.
#include "example_support.h"

#include <chrono>
#include <thread>

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::AMSTMetricsWrapper amst;
  for (const char* id : {"0", "1", "2", "3"}) amst.OnStreamStart(id);
  amst.OnStreamData("0", 65544, 0);  // one 64 KiB chunk + 8 header bytes
  amst.OnStreamData("1", 65544, 0);
  amst.OnStreamData("0", 0, 4096);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  amst.OnStreamEnd("0");
  amst.OnStreamEnd("1");

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_amst_streams_active{" + base + "}", 2);
  check.series(text, "dwcp_amst_streams_total{" + base + ",result=\"success\"}", 4);
  check.series(text, "dwcp_amst_bytes_sent_total{" + base + ",stream_id=\"0\"}", 65544);
  check.series(text, "dwcp_amst_bytes_received_total{" + base + ",stream_id=\"0\"}", 4096);
  check.series(text, "dwcp_amst_latency_seconds_count{" + base + ",operation=\"stream_duration\"}", 2);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
