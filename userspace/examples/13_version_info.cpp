// Version info: one series of value 1, labelled with version, commit and build date.
#include "example_support.h"

int main() {
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  dwcp::SetVersionInfo("1.0.0", "0000000", "2025-01-01");
  dwcp::SetVersionInfo("1.4.2", "abc1234", "2025-11-08");  // replaces the previous one

  example::Checker check;
  const std::string text = example::scrape();
  check.series(text,
               "dwcp_system_version_info{cluster=\"example\",version=\"1.4.2\",git_commit=\"abc1234\","
               "build_date=\"2025-11-08\"}",
               1);
  check.check(text.find("version=\"1.0.0\"") == std::string::npos, "the old version is gone");
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
