// The HTTP exposer on 127.0.0.1:0: every path, readiness, basic auth, listen errors.
#include "dwcp_observer/http_server.h"
#include "dwcp_observer/model.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <thread>

namespace dwcp {
namespace {

using testing::http_get;

struct Served {
  std::shared_ptr<ModelRegistry> registry = std::make_shared<ModelRegistry>();
  std::unique_ptr<MetricsModel> model;
  std::unique_ptr<HttpServer> server;

  explicit Served(HttpOptions http = {}) {
    ModelOptions options;
    options.cluster = "c1";
    options.node = "n1";
    model = std::make_unique<MetricsModel>(registry, options);
    http.listen_address = "127.0.0.1:0";
    HttpStartResult started = HttpServer::start(http, {registry});
    EXPECT_TRUE(started) << started.error;
    server = std::move(started.server);
  }
};

TEST(HttpServer, ServesMetricsHealthReadinessAndLandingPage) {
  Served served;
  ASSERT_TRUE(served.server);
  const int port = served.server->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(served.server->address(), "127.0.0.1:" + std::to_string(port));
  served.model->stream_bytes("7", 1234, 0);

  auto metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos)
      << metrics.headers;
  EXPECT_NE(metrics.body.find("dwcp_amst_bytes_sent_total{cluster=\"c1\",node=\"n1\",stream_id=\"7\"} 1234"),
            std::string::npos);

  for (const char* path : {"/-/healthy", "/health"}) {
    auto healthy = http_get(port, path);
    EXPECT_EQ(healthy.status, 200) << path;
    EXPECT_EQ(healthy.body, "OK\n") << path;
  }
  for (const char* path : {"/-/ready", "/ready"}) {
    auto not_ready = http_get(port, path);
    EXPECT_EQ(not_ready.status, 503) << path;
    EXPECT_EQ(not_ready.body, "Not ready: starting\n");
  }
  served.server->set_ready(false, "probes not attached yet");
  EXPECT_EQ(http_get(port, "/-/ready").body, "Not ready: probes not attached yet\n");
  served.server->set_ready(true);
  EXPECT_EQ(http_get(port, "/-/ready").status, 200);
  EXPECT_EQ(http_get(port, "/ready").status, 200);

  auto landing = http_get(port, "/");
  EXPECT_EQ(landing.status, 200);
  EXPECT_NE(landing.body.find("href=\"/metrics\""), std::string::npos);
  EXPECT_NE(landing.headers.find("text/html"), std::string::npos);

  EXPECT_EQ(http_get(port, "/nope").status, 404);
  EXPECT_EQ(http_get(port, "/metrics", "", "POST").status, 405);
  auto head = http_get(port, "/metrics", "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST(HttpServer, ManyConcurrentScrapersAllGetAnswers) {
  Served served;
  ASSERT_TRUE(served.server);
  std::atomic<int> ok{0};
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 8; ++i)
    scrapers.emplace_back([&] {
      for (int j = 0; j < 10; ++j)
        if (http_get(served.server->port(), "/metrics").status == 200) ++ok;
    });
  for (auto& t : scrapers) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(HttpServer, BasicAuthGuardsMetricsOnly) {
  HttpOptions http;
  http.basic_auth_user = "prom";
  http.basic_auth_password = "s3cret";
  Served served(http);
  ASSERT_TRUE(served.server);
  const int port = served.server->port();
  auto anonymous = http_get(port, "/metrics");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.headers.find("WWW-Authenticate: Basic"), std::string::npos);
  // base64("prom:s3cret") = cHJvbTpzM2NyZXQ=, base64("prom:wrong") = cHJvbTp3cm9uZw==
  EXPECT_EQ(http_get(port, "/metrics", "Authorization: Basic cHJvbTp3cm9uZw==\r\n").status, 401);
  EXPECT_EQ(http_get(port, "/metrics", "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n").status, 200);
  EXPECT_EQ(http_get(port, "/-/healthy").status, 200);  // probes need no credentials
}

TEST(HttpServer, PortInUseIsAClearError) {
  Served first;
  ASSERT_TRUE(first.server);
  HttpOptions http;
  http.listen_address = "127.0.0.1:" + std::to_string(first.server->port());
  HttpStartResult second = HttpServer::start(http, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error, "cannot listen on " + http.listen_address +
                              ": address already in use — pick another --web.listen-address port or stop the "
                              "process that holds it");
  EXPECT_EQ(http_get(first.server->port(), "/-/healthy").status, 200);  // the first still serves
}

TEST(HttpServer, InvalidAddressesAreRejectedWithTheExpectedForm) {
  for (const char* address : {"127.0.0.1:99999", "nonsense", "1.2.3:80", "127.0.0.1:", "[::1]:9090"}) {
    HttpOptions http;
    http.listen_address = address;
    HttpStartResult started = HttpServer::start(http, {});
    EXPECT_FALSE(started) << address;
    EXPECT_FALSE(started.error.empty()) << address;
  }
  std::string host, error;
  int port = -1;
  ASSERT_TRUE(parse_listen_address(":9100", &host, &port, &error));
  EXPECT_EQ(host, "");
  EXPECT_EQ(port, 9100);
  ASSERT_TRUE(parse_listen_address("localhost:0", &host, &port, &error));
  EXPECT_EQ(host, "127.0.0.1");
  HttpOptions half_auth;
  half_auth.listen_address = "127.0.0.1:0";
  half_auth.basic_auth_user = "only-user";
  EXPECT_FALSE(HttpServer::start(half_auth, {}));
}

}  // namespace
}  // namespace dwcp
