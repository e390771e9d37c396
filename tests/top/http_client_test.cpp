// The HTTP client against a one-shot server on 127.0.0.1:0 that answers what each test scripts.
#include "top/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

using namespace dwcp::top;

namespace {

// Accepts one connection, reads the request head, answers `response`, closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 1);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request_.append(buf, static_cast<std::size_t>(n));
      }
      send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      close(c);
    });
  }
  ~OneShotServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string url(const std::string& userinfo = "") const {
    return "http://" + userinfo + "127.0.0.1:" + std::to_string(port_) + "/metrics";
  }
  const std::string& request() const { return request_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::string response_;
  std::string request_;
  std::thread thread_;
};

FetchOptions timeout(int ms) {
  FetchOptions options;
  options.timeout_ms = ms;
  return options;
}

}  // namespace

TEST(HttpClient, ParsesUrls) {
  auto u = parse_url("http://user:p%40ss@127.0.0.1:9090/metrics?x=1");
  ASSERT_TRUE(u.ok()) << u.error();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9090");
  EXPECT_EQ(u->path, "/metrics?x=1");
  EXPECT_EQ(u->user, "user");
  EXPECT_EQ(u->password, "p@ss");
  auto bare = parse_url("127.0.0.1:9100");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->path, "/metrics");
  EXPECT_EQ(bare->port, "9100");
  auto v6 = parse_url("http://[::1]:9090");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "9090");
  EXPECT_EQ(parse_url("http://localhost")->port, "80");
  EXPECT_FALSE(parse_url("ftp://x/").ok());
  EXPECT_FALSE(parse_url("http://:80/").ok());
  EXPECT_FALSE(parse_url("http://h:8x/").ok());
  EXPECT_FALSE(parse_url("http://[::1/").ok());
}

TEST(HttpClient, Base64) {
  EXPECT_EQ(base64("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(base64("a"), "YQ==");
  EXPECT_EQ(base64("ab"), "YWI=");
  EXPECT_EQ(base64(""), "");
}

TEST(HttpClient, ContentLengthBodyAndBasicAuthHeader) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nm 1\nEXTRA");
  auto body = fetch(*parse_url(server.url("user:pass@")), timeout(5000));
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(*body, "m 1\nE");
  EXPECT_NE(server.request().find("GET /metrics HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(server.request().find("Authorization: Basic dXNlcjpwYXNz\r\n"), std::string::npos);
}

TEST(HttpClient, ChunkedBody) {
  OneShotServer server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nm 1\n\r\n6;ext=1\r\nm2 22\n\r\n0\r\n\r\n");
  auto body = fetch(*parse_url(server.url()), timeout(5000));
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(*body, "m 1\nm2 22\n");
}

TEST(HttpClient, MalformedChunkIsAnError) {
  OneShotServer server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffff\r\nshort");
  EXPECT_FALSE(fetch(*parse_url(server.url()), timeout(5000)).ok());
}

TEST(HttpClient, UnauthorizedSaysHowToGiveCredentials) {
  OneShotServer server("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
  auto body = fetch(*parse_url(server.url()), timeout(5000));
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().find("--basic-auth-file"), std::string::npos) << body.error();
}

TEST(HttpClient, OtherStatusesAreErrors) {
  OneShotServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\nnot ready");
  auto body = fetch(*parse_url(server.url()), timeout(5000));
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().find("HTTP 503"), std::string::npos) << body.error();
  EXPECT_NE(body.error().find("not ready"), std::string::npos) << body.error();
}

TEST(HttpClient, RefusedConnectionSaysWhere) {
  // A port that was just free: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  auto body = fetch(*parse_url("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/metrics"), timeout(2000));
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().find("cannot connect to 127.0.0.1"), std::string::npos) << body.error();
}

TEST(HttpClient, HttpsToAPlainServerFailsTheHandshake) {
  if (!tls_supported()) GTEST_SKIP() << "built without OpenSSL";
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nm 1\n");
  std::string url = server.url();
  url.replace(0, 4, "https");
  auto body = fetch(*parse_url(url), timeout(1000));
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().find("TLS"), std::string::npos) << body.error();
}

TEST(HttpClient, ParseResponse) {
  auto close_delimited = parse_response("HTTP/1.0 200 ok\r\nContent-type: text/plain\r\n\r\nm 1\n", "x");
  ASSERT_TRUE(close_delimited.ok()) << close_delimited.error();
  EXPECT_EQ(*close_delimited, "m 1\n");
  EXPECT_FALSE(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "x").ok());
  EXPECT_FALSE(parse_response("HTTP/1.1 200 OK\r\n", "x").ok());
  EXPECT_FALSE(parse_response("SMTP ready\r\n\r\n", "x").ok());
  // Chunk sizes are bounded (8 hex digits) and must fit in what arrived.
  EXPECT_FALSE(
      parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\nx\r\n0\r\n\r\n", "x").ok());
  EXPECT_FALSE(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "x").ok());
  auto e = parse_response("HTTP/1.1 404 Not Found\r\n\r\nno such path\nmore", "127.0.0.1/x");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error(), "HTTP 404 from 127.0.0.1/x: no such path");
}
