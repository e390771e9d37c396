// Initialize the library, see all 21 families and the health endpoints, shut down.
#include "example_support.h"

#include <cstdio>

int main() {
  dwcp::Status status = dwcp::InitializeMetrics("example", "node-1", 0);  // 0: any free port
  if (!status) {
    std::fprintf(stderr, "metrics disabled: %s\n", status.message.c_str());
    return 1;
  }
  std::printf("serving on port %d\n", dwcp::MetricsPort());
  example::Checker check;
  const std::string text = example::scrape();
  std::size_t count = 0;
  for (std::size_t at = text.find("# TYPE dwcp_"); at != std::string::npos; at = text.find("# TYPE dwcp_", at + 1))
    if (text.compare(at, 21, "# TYPE dwcp_observer_") != 0) ++count;
  check.check(count == 21, "21 dwcp_* families listed");
  int code = 0;
  example::http_get(dwcp::MetricsPort(), "/-/healthy", &code);
  check.check(code == 200, "/-/healthy answers 200");
  example::http_get(dwcp::MetricsPort(), "/-/ready", &code);
  check.check(code == 200, "/-/ready answers 200");
  check.series(text, "dwcp_amst_streams_active{cluster=\"example\",node=\"node-1\"}", 0);
  dwcp::ShutdownMetrics();
  check.check(!dwcp::MetricsActive(), "inactive after ShutdownMetrics");
  return check.exit_code();
}
