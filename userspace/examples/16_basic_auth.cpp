// /metrics behind basic auth (MetricsConfig), health endpoints open.
#include "example_support.h"

#include <cstdio>

int main() {
  dwcp::MetricsConfig config;
  config.cluster = "example";
  config.node = "node-1";
  config.listen_address = "127.0.0.1:0";
  config.basic_auth_user = "prometheus";
  config.basic_auth_password = "scrape-me";
  dwcp::Status status = dwcp::InitializeMetrics(config);
  if (!status) {
    std::fprintf(stderr, "%s\n", status.message.c_str());
    return 1;
  }
  example::Checker check;
  int code = 0;
  example::http_get(dwcp::MetricsPort(), "/metrics", &code);
  check.check(code == 401, "no credentials: 401");
  // base64("prometheus:scrape-me")
  const std::string body = example::http_get(dwcp::MetricsPort(), "/metrics", &code,
                                             "Authorization: Basic cHJvbWV0aGV1czpzY3JhcGUtbWU=\r\n");
  check.check(code == 200, "with credentials: 200");
  check.series(body, "dwcp_amst_streams_active{cluster=\"example\",node=\"node-1\"}", 0);
  example::http_get(dwcp::MetricsPort(), "/-/healthy", &code);
  check.check(code == 200, "/-/healthy needs no credentials");
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
