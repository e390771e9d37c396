/* The C ABI: an AMST stream lifecycle from C. */
#include "example_support_c.h"

int main(void) {
  if (dwcp_initialize_metrics("example", "node-1", 0) != DWCP_OK) {
    fprintf(stderr, "%s\n", dwcp_last_error());
    return 1;
  }
  dwcp_on_stream_start("0");
  dwcp_on_stream_start("1");
  dwcp_on_stream_data("0", 65544, 0);
  dwcp_on_stream_data("1", 65544, 16);
  dwcp_on_stream_error("1", "timeout");
  dwcp_on_stream_end("1");
  dwcp_on_bandwidth_update(400, 1000);

  example_expect_line("dwcp_amst_streams_active{cluster=\"example\",node=\"node-1\"} 1");
  example_expect_line("dwcp_amst_bytes_received_total{cluster=\"example\",node=\"node-1\",stream_id=\"1\"} 16");
  example_expect_line("dwcp_amst_errors_total{cluster=\"example\",node=\"node-1\",error_type=\"timeout\"} 1");
  example_expect_line("dwcp_amst_bandwidth_utilization_percent{cluster=\"example\",node=\"node-1\"} 40");
  dwcp_shutdown_metrics();
  return example_failures == 0 ? 0 : 1;
}
