/* The C ABI of libdwcp_hooks.so used from plain C: init on a free loopback port, record, read
 * the exposition back, shut down. Exits non-zero on the first mismatch. */
#include "dwcp_observer/hooks_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void expect(int condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

int main(void) {
  dwcp_on_stream_data("before-init", 1, 1);
  expect(dwcp_ignored_calls() == 1, "a call before init is ignored and counted");

  expect(dwcp_initialize_metrics("c-abi", "node-c", 0) == DWCP_OK, "init on a free port");
  expect(dwcp_metrics_port() > 0, "a port was bound");
  dwcp_on_stream_start("7");
  dwcp_on_stream_data("7", 1000, 10);
  dwcp_on_compression_complete("vm_memory", 4000, 1000, 1);
  dwcp_on_component_health_change("amst", 2);
  /* Counted strings: only id_len bytes are the id (Go passes its string bytes this way). */
  dwcp_on_stream_data_n("7-and-more", 1, 24, 0);
  dwcp_on_stream_data_n("8", 1, 5, 6);
  dwcp_on_stream_data_n(NULL, 3, 9, 0); /* NULL is "" whatever the length */
  dwcp_on_compression_complete_n("deltaXYZ", 5, 4000, 2000, 0);

  size_t size = dwcp_metrics_text(NULL, 0);
  char* text = malloc(size + 1);
  dwcp_metrics_text(text, size + 1);
  expect(strstr(text, "dwcp_amst_bytes_sent_total{cluster=\"c-abi\",node=\"node-c\",stream_id=\"7\"} 1024") != NULL,
         "bytes sent exported, counted ids included");
  expect(strstr(text, "dwcp_amst_bytes_received_total{cluster=\"c-abi\",node=\"node-c\",stream_id=\"8\"} 6") != NULL,
         "bytes received of a counted id");
  expect(strstr(text, "stream_id=\"unknown\"} 9") != NULL, "a NULL counted id is recorded as unknown");
  expect(
      strstr(text, "dwcp_hde_bytes_original_total{cluster=\"c-abi\",node=\"node-c\",data_type=\"delta\"} 4000") != NULL,
      "a counted data type");
  expect(strstr(text, "dwcp_hde_delta_hit_rate_percent{cluster=\"c-abi\",node=\"node-c\"} 50") != NULL,
         "delta hit rate exported");
  expect(strstr(text, "dwcp_amst_streams_active{cluster=\"c-abi\",node=\"node-c\"} 1") != NULL, "one active stream");
  free(text);

  expect(dwcp_shutdown_metrics() == DWCP_OK, "shutdown");
  expect(dwcp_metrics_active() == 0, "inactive after shutdown");
  return failures == 0 ? 0 : 1;
}
