// Stream errors by type, and a stream that failed to open.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::AMSTMetricsWrapper amst;
  amst.OnStreamStart("0");
  amst.OnStreamStartFailed("1");
  amst.OnStreamError("0", "connection_reset");
  amst.OnStreamError("0", "connection_reset");
  amst.OnStreamError("0", "timeout");

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_amst_errors_total{" + base + ",error_type=\"connection_reset\"}", 2);
  check.series(text, "dwcp_amst_errors_total{" + base + ",error_type=\"timeout\"}", 1);
  check.series(text, "dwcp_amst_streams_total{" + base + ",result=\"failure\"}", 1);
  check.series(text, "dwcp_amst_streams_active{" + base + "}", 1);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
