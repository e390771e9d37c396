/* The C ABI: HDE compression, baselines and dictionary from C. */
#include "example_support_c.h"

int main(void) {
  if (dwcp_initialize_metrics("example", "node-1", 0) != DWCP_OK) {
    fprintf(stderr, "%s\n", dwcp_last_error());
    return 1;
  }
  dwcp_on_compression_complete("vm_memory", 1000, 250, 0);
  dwcp_on_compression_complete("vm_memory", 1000, 100, 1);
  dwcp_record_compression_metrics("vm_memory", 1000, 50, 1);
  dwcp_on_decompression_complete(1);
  dwcp_on_baseline_update("vm_state", 7);
  dwcp_on_dictionary_update(31.5);

  example_expect_line(
      "dwcp_hde_bytes_compressed_total{cluster=\"example\",node=\"node-1\",data_type=\"vm_memory\"} 400");
  example_expect_line(
      "dwcp_hde_compression_ratio_count{cluster=\"example\",node=\"node-1\",data_type=\"vm_memory\"} 3");
  example_expect_line("dwcp_hde_baseline_count{cluster=\"example\",node=\"node-1\",baseline_type=\"vm_state\"} 7");
  example_expect_line("dwcp_hde_dictionary_efficiency_percent{cluster=\"example\",node=\"node-1\"} 31.5");
  example_expect_line(
      "dwcp_hde_operations_total{cluster=\"example\",node=\"node-1\",operation=\"decode\",result=\"success\"} 1");
  dwcp_shutdown_metrics();
  return example_failures == 0 ? 0 : 1;
}
