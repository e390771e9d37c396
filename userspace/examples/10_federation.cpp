// Federation syncs: duration per remote cluster and sync type, bandwidth saved per remote.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::FederationMetricsWrapper federation;
  federation.OnFederationSync("cluster-eu", "state", 0.08, 3 << 20);
  federation.OnFederationSync("cluster-eu", "baseline", 0.9, 1 << 20);
  dwcp::RecordFederationSync("cluster-us", "state", 0.015, 0);

  example::Checker check;
  const std::string text = example::scrape();
  check.series(text, "dwcp_federation_bandwidth_saved_bytes_total{cluster=\"example\",remote_cluster=\"cluster-eu\"}",
               4 << 20);
  check.series(text,
               "dwcp_federation_sync_duration_seconds_bucket{cluster=\"example\",remote_cluster=\"cluster-eu\","
               "sync_type=\"state\",le=\"0.08\"}",
               1);
  check.series(text,
               "dwcp_federation_sync_duration_seconds_count{cluster=\"example\",remote_cluster=\"cluster-us\","
               "sync_type=\"state\"}",
               1);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
