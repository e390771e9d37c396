// Bandwidth utilization: used / available, computed by the model.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::AMSTMetricsWrapper amst;
  amst.OnBandwidthUpdate(200'000'000, 1'000'000'000);
  amst.OnBandwidthUpdate(850'000'000, 1'000'000'000);  // the last update wins

  example::Checker check;
  check.series(example::scrape(), "dwcp_amst_bandwidth_utilization_percent{cluster=\"example\",node=\"node-1\"}", 85);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
