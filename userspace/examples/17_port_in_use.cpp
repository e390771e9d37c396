// A port already taken: InitializeMetrics says so, the program keeps running and recording,
// and a second InitializeMetrics on another port starts the server with nothing lost.
#include "example_support.h"

#include <cstdio>

int main() {
  // Find a free port, then let a plain socket (standing for another program) hold it.
  if (!dwcp::InitializeMetrics("example", "node-1", 0)) return 1;
  const int port = dwcp::MetricsPort();
  dwcp::ShutdownMetrics();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool held = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 && ::listen(fd, 1) == 0;

  example::Checker check;
  check.check(held, "set-up: a port held by someone else");
  dwcp::Status status = dwcp::InitializeMetrics("example", "node-1", port);
  std::printf("InitializeMetrics: %s\n", status.message.c_str());
  check.check(!status.ok, "the port in use is reported");
  check.check(status.message.find("address already in use") != std::string::npos, "with the reason");
  dwcp::AMSTMetricsWrapper().OnStreamData("0", 777, 0);  // still recorded

  status = dwcp::InitializeMetrics("example", "node-1", 0);
  check.check(status.ok, "another port works");
  check.series(example::scrape(), "dwcp_amst_bytes_sent_total{cluster=\"example\",node=\"node-1\",stream_id=\"0\"}",
               777);
  ::close(fd);
  dwcp::ShutdownMetrics();
  return check.exit_code();
}
