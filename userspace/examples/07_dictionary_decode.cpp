// Dictionary efficiency and decompression results.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::HDEMetricsWrapper hde;
  hde.OnDictionaryUpdate(18.75);
  hde.OnDecompressionComplete(true);
  hde.OnDecompressionComplete(true);
  hde.OnDecompressionComplete(false);

  example::Checker check;
  const std::string text = example::scrape();
  const std::string base = "cluster=\"example\",node=\"node-1\"";
  check.series(text, "dwcp_hde_dictionary_efficiency_percent{" + base + "}", 18.75);
  check.series(text, "dwcp_hde_operations_total{" + base + ",operation=\"decode\",result=\"success\"}", 2);
  check.series(text, "dwcp_hde_operations_total{" + base + ",operation=\"decode\",result=\"failure\"}", 1);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
