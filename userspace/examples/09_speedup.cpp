// Migration speedup factor per VM type, computed by the program from two timings.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  const double standard_seconds = 340;
  const double dwcp_seconds = 40;
  dwcp::MigrationMetricsWrapper().OnSpeedupCalculated("large_vm", standard_seconds / dwcp_seconds);
  dwcp::MigrationMetricsWrapper().OnSpeedupCalculated("small_vm", 2.5);

  example::Checker check;
  const std::string text = example::scrape();
  check.series(text, "dwcp_migration_speedup_factor{cluster=\"example\",vm_type=\"large_vm\"}", 8.5);
  check.series(text, "dwcp_migration_speedup_factor{cluster=\"example\",vm_type=\"small_vm\"}", 2.5);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
