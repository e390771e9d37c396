// HDE baselines per type: a gauge that follows the latest count.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::HDEMetricsWrapper hde;
  hde.OnBaselineUpdate("vm_state", 120);
  hde.OnBaselineUpdate("disk_block", 40);
  hde.OnBaselineUpdate("vm_state", 95);  // after PruneOldBaselines

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_hde_baseline_count{" + base + ",baseline_type=\"vm_state\"}", 95);
  check.series(text, "dwcp_hde_baseline_count{" + base + ",baseline_type=\"disk_block\"}", 40);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
