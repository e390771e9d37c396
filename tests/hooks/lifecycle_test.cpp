// The hook library's lifecycle, in order, in one process (the library is a process singleton):
// before Init, a port in use, re-Init, Shutdown, calls after Shutdown, Init again.
#include "dwcp_observer/hooks.h"
#include "dwcp_observer/hooks_c.h"
#include "test_util.h"
#include "text_value.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace dwcp {
namespace {

using testing::http_get;
using testing::text_value;

const char* const kSent = "dwcp_amst_bytes_sent_total{cluster=\"c1\",node=\"n1\",stream_id=\"s\"}";

// A listening socket that holds a loopback port for the test.
struct HeldPort {
  int fd = -1;
  int port = 0;
  HeldPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd, 1), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~HeldPort() { ::close(fd); }
};

TEST(HookLifecycle, FromBeforeInitToShutdownAndBack) {
  ::setenv("DWCP_METRICS_HOST", "127.0.0.1", 1);  // loopback only in tests

  // Before Init: safe no-ops, counted, nothing exported.
  AMSTMetricsWrapper amst;  // constructing a wrapper before Init is fine
  EXPECT_FALSE(MetricsActive());
  amst.OnStreamData("s", 100, 0);
  dwcp_on_stream_data("s", 100, 0);
  HDEMetricsWrapper().OnCompressionComplete("vm_memory", 10, 5, true);
  SetVersionInfo("1", "a", "b");
  EXPECT_EQ(IgnoredCalls(), 4u);
  EXPECT_EQ(MetricsText(), "");
  EXPECT_EQ(MetricsPort(), 0);

  // A port in use: an error value with a message, no crash, and recording still works.
  {
    HeldPort held;
    Status status = InitializeMetrics("c1", "n1", held.port);
    EXPECT_FALSE(status.ok);
    EXPECT_NE(status.message.find("address already in use"), std::string::npos) << status.message;
    EXPECT_NE(status.message.find("127.0.0.1:" + std::to_string(held.port)), std::string::npos);
    EXPECT_EQ(dwcp_initialize_metrics("c1", "n1", held.port), DWCP_ERR_LISTEN);
    EXPECT_NE(std::string(dwcp_last_error()).find("address already in use"), std::string::npos);
  }
  EXPECT_TRUE(MetricsActive());
  EXPECT_EQ(MetricsPort(), 0);
  amst.OnStreamData("s", 10, 0);
  EXPECT_EQ(text_value(MetricsText(), kSent), 10);

  // Init again on a free port: the server starts, values recorded so far are served.
  Status status = InitializeMetrics("c1", "n1", 0);
  ASSERT_TRUE(status.ok) << status.message;
  const int port = MetricsPort();
  ASSERT_GT(port, 0);
  auto scraped = http_get(port, "/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_EQ(text_value(scraped.body, kSent), 10);
  EXPECT_EQ(http_get(port, "/-/ready").status, 200);
  EXPECT_EQ(http_get(port, "/-/healthy").status, 200);
  SetReady(false, "warming up");
  EXPECT_EQ(http_get(port, "/-/ready").status, 503);
  SetReady(true);

  // Shutdown: the server stops, later calls are ignored, the values stay readable.
  const std::uint64_t ignored_before = IgnoredCalls();
  ASSERT_TRUE(ShutdownMetrics().ok);
  EXPECT_FALSE(MetricsActive());
  EXPECT_EQ(MetricsPort(), 0);
  EXPECT_EQ(http_get(port, "/-/healthy").status, 0);  // nobody listens any more
  amst.OnStreamData("s", 1000, 0);
  dwcp_on_stream_start("late");
  EXPECT_EQ(IgnoredCalls(), ignored_before + 2);
  EXPECT_EQ(text_value(MetricsText(), kSent), 10);
  EXPECT_TRUE(ShutdownMetrics().ok);  // twice is fine

  // Init again: same model (first cluster/node kept), counters continue.
  status = InitializeMetrics("other-cluster", "other-node", 0);
  ASSERT_TRUE(status.ok) << status.message;
  amst.OnStreamData("s", 5, 0);
  scraped = http_get(MetricsPort(), "/metrics");
  EXPECT_EQ(text_value(scraped.body, kSent), 15);
  EXPECT_EQ(scraped.body.find("other-cluster"), std::string::npos);
  EXPECT_EQ(dwcp_shutdown_metrics(), DWCP_OK);
}

}  // namespace
}  // namespace dwcp
