/* The C ABI: migration, federation, health, features and version from C. */
#include "example_support_c.h"

int main(void) {
  if (dwcp_initialize_metrics("example", "node-1", 0) != DWCP_OK) {
    fprintf(stderr, "%s\n", dwcp_last_error());
    return 1;
  }
  dwcp_on_migration_start("vm-7");
  dwcp_on_migration_complete("vm-7", "node-9", 1);
  dwcp_on_speedup_calculated("medium_vm", 4.0);
  dwcp_on_federation_sync("cluster-ap", "state", 0.03, 2048);
  dwcp_on_component_health_change("federation", 1);
  dwcp_record_component_health("amst", 1);
  dwcp_on_feature_toggle("delta_encoding", 1);
  dwcp_set_version_info("1.4.2", "abc1234", "2025-11-08");

  example_expect_line(
      "dwcp_migration_duration_seconds_count{cluster=\"example\",source_node=\"node-1\",dest_node=\"node-9\",dwcp_"
      "enabled=\"true\"} 1");
  example_expect_line("dwcp_migration_speedup_factor{cluster=\"example\",vm_type=\"medium_vm\"} 4");
  example_expect_line(
      "dwcp_federation_bandwidth_saved_bytes_total{cluster=\"example\",remote_cluster=\"cluster-ap\"} 2048");
  example_expect_line("dwcp_system_component_health{cluster=\"example\",node=\"node-1\",component=\"federation\"} 1");
  example_expect_line("dwcp_system_component_health{cluster=\"example\",node=\"node-1\",component=\"amst\"} 2");
  example_expect_line("dwcp_system_config_enabled{cluster=\"example\",node=\"node-1\",feature=\"delta_encoding\"} 1");
  example_expect_line(
      "dwcp_system_version_info{cluster=\"example\",version=\"1.4.2\",git_commit=\"abc1234\",build_date=\"2025-11-08\"}"
      " 1");
  dwcp_shutdown_metrics();
  return example_failures == 0 ? 0 : 1;
}
