// The HTTP exposer on 127.0.0.1:0: every path, readiness, basic auth, listen errors.
#include "dwcp_observer/http_server.h"
#include "dwcp_observer/model.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>

#include <arpa/inet.h>

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
    auto started = HttpServer::start(http, {registry});
    EXPECT_TRUE(started) << (started ? "" : started.error());
    if (started) server = std::move(started).value();
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
  EXPECT_NE(metrics.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << metrics.headers;
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
  auto second = HttpServer::start(http, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.failure().kind, ErrorKind::kListen);
  EXPECT_EQ(second.failure().code, EADDRINUSE);
  EXPECT_EQ(second.error(), "cannot listen on " + http.listen_address +
                                ": address already in use — pick another --web.listen-address port or stop the "
                                "process that holds it");
  EXPECT_EQ(http_get(first.server->port(), "/-/healthy").status, 200);  // the first still serves
}

TEST(HttpServer, InvalidAddressesAreRejectedWithTheExpectedForm) {
  for (const char* address : {"127.0.0.1:99999", "non sense", "1.2.3:80", "127.0.0.1:", "[::1]", "[1.2.3.4]:80"}) {
    HttpOptions http;
    http.listen_address = address;
    auto started = HttpServer::start(http, {});
    ASSERT_FALSE(started) << address;
    EXPECT_FALSE(started.error().empty()) << address;
  }
  auto any = parse_listen_address(":9100");
  ASSERT_TRUE(any) << any.error();
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 9100);
  auto local = parse_listen_address("localhost:0");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "127.0.0.1");
  auto v6 = parse_listen_address("[::1]:9476");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  auto named = parse_listen_address("metrics.example:9476");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->host, "metrics.example");
  EXPECT_FALSE(parse_listen_address("127.0.0.1:99999"));
  HttpOptions half_auth;
  half_auth.listen_address = "127.0.0.1:0";
  half_auth.basic_auth_user = "only-user";
  EXPECT_FALSE(HttpServer::start(half_auth, {}));
}

// A client connection that stays open: several requests, each answer read by its Content-Length.
class Client {
 public:
  explicit Client(int port, const char* host = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, host, &address.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  testing::HttpResponse get(const std::string& path, const std::string& headers = "") {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n";
    testing::HttpResponse response;
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) < 0) return response;
    std::string raw;
    char buffer[65536];
    std::size_t end = std::string::npos, length = 0;
    while (end == std::string::npos || raw.size() < end + 4 + length) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return response;
      raw.append(buffer, static_cast<std::size_t>(n));
      if (end == std::string::npos && (end = raw.find("\r\n\r\n")) != std::string::npos) {
        const std::size_t at = raw.find("Content-Length: ");
        length = at < end ? std::stoul(raw.substr(at + 16)) : 0;
      }
    }
    response.status = std::stoi(raw.substr(9, 3));
    response.headers = raw.substr(0, end);
    response.body = raw.substr(end + 4, length);
    return response;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(HttpServer, KeepsConnectionsAliveAcrossScrapes) {
  Served served;
  ASSERT_TRUE(served.server);
  Client client(served.server->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    auto response = client.get("/metrics");
    EXPECT_EQ(response.status, 200) << i;
    EXPECT_EQ(response.headers.find("Connection: close"), std::string::npos) << response.headers;
  }
  // HTTP/1.0 without keep-alive (http_get) is still closed after the answer.
  EXPECT_NE(http_get(served.server->port(), "/-/healthy").headers.find("Connection: close"), std::string::npos);
}

TEST(HttpServer, OpenMetricsWhenTheScraperAsksForIt) {
  Served served;
  ASSERT_TRUE(served.server);
  served.model->stream_bytes("7", 1234, 0);
  // What Prometheus 2.x sends by default.
  auto om = http_get(served.server->port(), "/metrics",
                     "Accept: application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
                     "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n");
  EXPECT_EQ(om.status, 200);
  EXPECT_NE(om.headers.find("Content-Type: application/openmetrics-text; version=1.0.0"), std::string::npos);
  EXPECT_NE(om.body.find("# TYPE dwcp_amst_bytes_sent counter\n"), std::string::npos);
  EXPECT_NE(om.body.find("dwcp_amst_bytes_sent_total{cluster=\"c1\",node=\"n1\",stream_id=\"7\"} 1234"),
            std::string::npos);
  EXPECT_EQ(om.body.substr(om.body.size() - 6), "# EOF\n");
  auto text = http_get(served.server->port(), "/metrics", "Accept: text/plain;version=0.0.4\r\n");
  EXPECT_NE(text.headers.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(text.body.find("# EOF"), std::string::npos);
}

TEST(HttpServer, OpenMetricsRewriteOfCountersUntypedAndHelp) {
  EXPECT_EQ(to_openmetrics("# HELP a_total Some \"quoted\" help\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
                           "# HELP b Count without suffix\n# TYPE b counter\nb 3\n# TYPE c untyped\nc 4\n"),
            "# HELP a Some \\\"quoted\\\" help\n# TYPE a counter\na_total{x=\"1\"} 2\n# HELP b Count without suffix\n"
            "# TYPE b counter\nb_total 3\n# TYPE c unknown\nc 4\n# EOF\n");
}

TEST(HttpServer, IdleConnectionsBeyondTheCapDoNotLockOutAScrape) {
  HttpOptions http;
  http.max_connections = 64;
  Served served(http);
  ASSERT_TRUE(served.server);
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(std::make_unique<Client>(served.server->port()));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(http_get(served.server->port(), "/metrics").status, 200) << i;
}

TEST(HttpServer, ConfiguredHeadersTelemetryPathAndSeveralListeners) {
  HttpOptions http;
  http.telemetry_path = "/probe/metrics";
  http.extra_listen_addresses = {"127.0.0.2:0"};
  http.headers = {{"X-Frame-Options", "deny"}};
  Served served(http);
  ASSERT_TRUE(served.server);
  const auto addresses = served.server->addresses();
  ASSERT_EQ(addresses.size(), 2u);
  EXPECT_EQ(addresses[1].rfind("127.0.0.2:", 0), 0u) << addresses[1];
  auto metrics = http_get(served.server->port(), "/probe/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("X-Frame-Options: deny"), std::string::npos);
  EXPECT_EQ(http_get(served.server->port(), "/metrics").status, 404);
  Client second(std::stoi(addresses[1].substr(addresses[1].rfind(':') + 1)), "127.0.0.2");
  ASSERT_TRUE(second.connected());
  EXPECT_EQ(second.get("/probe/metrics").status, 200);
}

TEST(HttpServer, ServesIPv6Loopback) {
  HttpOptions http;
  http.listen_address = "[::1]:0";
  auto started = HttpServer::start(http, {});
  if (!started && started.error().find("Cannot assign") != std::string::npos) GTEST_SKIP() << "no IPv6 loopback here";
  ASSERT_TRUE(started) << started.error();
  EXPECT_EQ((*started)->address().rfind("[::1]:", 0), 0u) << (*started)->address();
}

}  // namespace
}  // namespace dwcp
