// Component health: down, degraded, healthy (0, 1, 2).
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::SystemMetricsWrapper system;
  system.OnComponentHealthChange("amst", dwcp::HealthStatus::Down);
  system.OnComponentHealthChange("amst", dwcp::HealthStatus::Degraded);
  system.OnComponentHealthChange("hde", dwcp::HealthStatus::Healthy);
  system.OnComponentHealthChange("federation", dwcp::HealthStatus::Down);

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_system_component_health{" + base + ",component=\"amst\"}", 1);
  check.series(text, "dwcp_system_component_health{" + base + ",component=\"hde\"}", 2);
  check.series(text, "dwcp_system_component_health{" + base + ",component=\"federation\"}", 0);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
