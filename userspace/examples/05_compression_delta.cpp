// HDE compression with delta hits and misses: ratio histogram, bytes, hit rate.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::HDEMetricsWrapper hde;
  hde.OnCompressionComplete("vm_memory", 8 << 20, 1 << 20, false);  // ratio 8, baseline made
  hde.OnCompressionComplete("vm_memory", 8 << 20, 1 << 18, true);   // ratio 32, delta hit
  hde.OnCompressionComplete("vm_memory", 8 << 20, 1 << 18, true);
  hde.OnCompressionComplete("vm_memory", 8 << 20, 1 << 18, true);

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_hde_delta_hit_rate_percent{" + base + "}", 75);
  check.series(text, "dwcp_hde_compression_ratio_bucket{" + base + ",data_type=\"vm_memory\",le=\"10\"}", 1);
  check.series(text, "dwcp_hde_compression_ratio_bucket{" + base + ",data_type=\"vm_memory\",le=\"50\"}", 4);
  check.series(text, "dwcp_hde_bytes_original_total{" + base + ",data_type=\"vm_memory\"}", 4.0 * (8 << 20));
  check.series(text, "dwcp_hde_operations_total{" + base + ",operation=\"encode\",result=\"success\"}", 4);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
