// The original's one-shot helpers: RecordStreamMetrics, RecordCompressionMetrics,
// RecordComponentHealth.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::RecordStreamMetrics("9", 1500, 500, "");           // bytes
  dwcp::RecordStreamMetrics("9", 0, 0, "checksum_error");  // an error instead
  dwcp::RecordCompressionMetrics("vm_disk", 3000, 1000, false);
  dwcp::RecordComponentHealth("migration", true);

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_amst_bytes_sent_total{" + base + ",stream_id=\"9\"}", 1500);
  check.series(text, "dwcp_amst_errors_total{" + base + ",error_type=\"checksum_error\"}", 1);
  check.series(text, "dwcp_hde_bytes_compressed_total{" + base + ",data_type=\"vm_disk\"}", 1000);
  check.series(text, "dwcp_system_component_health{" + base + ",component=\"migration\"}", 2);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
