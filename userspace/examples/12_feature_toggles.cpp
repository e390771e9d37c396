// Feature toggles: 1 enabled, 0 disabled.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::SystemMetricsWrapper system;
  system.OnFeatureToggle("amst", true);
  system.OnFeatureToggle("hde", true);
  system.OnFeatureToggle("hde", false);

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_system_config_enabled{" + base + ",feature=\"amst\"}", 1);
  check.series(text, "dwcp_system_config_enabled{" + base + ",feature=\"hde\"}", 0);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
