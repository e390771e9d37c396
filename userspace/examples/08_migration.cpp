// VM migrations with and without DWCP: the duration histogram splits on dwcp_enabled.
#include "example_support.h"

#include <chrono>
#include <thread>

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::MigrationMetricsWrapper migration;
  migration.OnMigrationStart("vm-42");
  migration.OnMigrationStart("vm-43");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  migration.OnMigrationComplete("vm-42", "node-2", true);
  migration.OnMigrationComplete("vm-43", "node-3", false);

  example::Checker check;
  const std::string text = example::scrape();
  check.series(text,
               "dwcp_migration_duration_seconds_count{cluster=\"example\",source_node=\"node-1\","
               "dest_node=\"node-2\",dwcp_enabled=\"true\"}",
               1);
  check.series(text,
               "dwcp_migration_duration_seconds_bucket{cluster=\"example\",source_node=\"node-1\","
               "dest_node=\"node-3\",dwcp_enabled=\"false\",le=\"1\"}",
               1);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
