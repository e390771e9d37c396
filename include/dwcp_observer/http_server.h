// A small HTTP server for /metrics and the health endpoints, on civetweb. Our own because
// prometheus-cpp's Exposer has no API for extra handlers (/-/healthy, /-/ready, landing page).
//
//   /metrics              Prometheus text format 0.0.4 of every collectable (optional basic auth)
//   /-/healthy, /health   200 "OK" while the process serves
//   /-/ready, /ready      200 "Ready" once set_ready(true), else 503 with the reason
//   /                     small HTML landing page with links
//
// Optional native TLS (civetweb + OpenSSL 3) and basic auth with crypt(3) hashes (bcrypt $2b$/$2y$),
// as the exporter-toolkit web config describes them (see userspace/http/web_config.h). A slow
// client holds one worker for at most request_timeout_ms; failed logins are rate-limited per
// client address and counted in dwcp_observer_http_auth_failures_total{reason}. /metrics is
// gzip-compressed when the scraper sends Accept-Encoding: gzip.
//
// IPv4 only: Debian's civetweb is built without IPv6.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// civetweb's handles, declared at global scope as civetweb.h does (not included here).
struct mg_connection;
struct mg_context;

namespace dwcp {

// TLS as exporter-toolkit's tls_server_config: PEM files; a client CA makes client certificates
// required (RequireAndVerifyClientCert) or checked when given (VerifyClientCertIfGiven).
struct TlsOptions {
  std::string cert_file;  // empty: plain HTTP
  std::string key_file;
  std::string client_ca_file;
  std::string client_auth_type = "NoClientCert";
};

struct HttpOptions {
  // "host:port" with an IPv4 host, or ":port" / "port" for every interface. Port 0 picks a
  // free port (see HttpServer::port()).
  std::string listen_address = "127.0.0.1:9090";
  // Concurrent requests. A client that sends nothing holds a worker until request_timeout_ms:
  // more workers than expected idle connections keep scrapes answered (docs/troubleshooting.md).
  int threads = 4;
  int request_timeout_ms = 10000;  // whole request head, and each read/write of the answer
  // Basic auth for /metrics when both are non-empty (plaintext; the hook library's form). The
  // health endpoints stay open (probes).
  std::string basic_auth_user;
  std::string basic_auth_password;
  // Basic auth for /metrics: user -> crypt(3) hash ($2b$/$2y$ bcrypt). Takes precedence.
  std::map<std::string, std::string> basic_auth_users;
  TlsOptions tls;
  std::string title = "dwcp-observer";  // landing page title
};

// Where the answers of /metrics and /-/ready come from. The default (LocalContent) renders
// collectables of this process; the agent's unprivileged HTTP process asks its privileged parent
// instead (userspace/agent/http_child.h), through the same server.
class ContentSource {
 public:
  virtual ~ContentSource() = default;
  // The /metrics body (without the server's own auth counter); false: unavailable (503).
  virtual bool metrics(std::string* body) = 0;
  // /-/ready: true when ready, else false with *reason saying why not.
  virtual bool ready(std::string* reason) = 0;
};

// Collectables of this process (held weakly: a gone one is skipped) and a readiness flag.
class LocalContent : public ContentSource {
 public:
  explicit LocalContent(std::vector<std::weak_ptr<prometheus::Collectable>> collectables = {})
      : collectables_(std::move(collectables)) {}
  bool metrics(std::string* body) override;
  bool ready(std::string* reason) override;
  void add_collectable(std::weak_ptr<prometheus::Collectable> collectable);
  void set_ready(bool ready, std::string reason_if_not_ready = "starting");
  bool is_ready() const { return ready_.load(); }

 private:
  std::atomic<bool> ready_{false};
  mutable std::mutex mutex_;  // guards collectables_ and not_ready_reason_
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  std::string not_ready_reason_ = "starting";
};

class HttpServer;

// Errors as values: either a running server or a message saying what is wrong and what to do.
struct HttpStartResult {
  std::unique_ptr<HttpServer> server;
  std::string error;
  explicit operator bool() const { return server != nullptr; }
};

class HttpServer {
 public:
  // Starts listening at once. Collectables are held weakly (a gone one is skipped).
  static HttpStartResult start(const HttpOptions& options,
                               std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  // Serves what `source` answers; add_collectable/set_ready do nothing then (the source decides).
  static HttpStartResult start_with(const HttpOptions& options, std::shared_ptr<ContentSource> source);
  ~HttpServer();  // stops the server; in-flight requests finish first
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }           // the bound port (real one when asked for 0)
  std::string address() const;                 // "host:port" actually bound
  void add_collectable(std::weak_ptr<prometheus::Collectable> collectable);
  // /-/ready answers 503 with `reason_if_not_ready` until set_ready(true).
  void set_ready(bool ready, std::string reason_if_not_ready = "starting");
  bool ready() const { return local_ && local_->is_ready(); }
  std::string render_metrics() const;  // the /metrics body
  bool tls() const { return tls_; }

  // civetweb's C callback (public so the trampoline can reach it; not for callers).
  int handle(mg_connection* connection);

 private:
  HttpServer() = default;
  enum class AuthResult { kOk, kMissing, kWrong, kRateLimited };
  AuthResult authenticate(mg_connection* connection);
  std::string auth_failure_text() const;  // dwcp_observer_http_auth_failures_total

  mg_context* context_ = nullptr;
  bool tls_ = false;
  std::string host_;
  int port_ = 0;
  std::string title_;
  std::string expected_authorization_;  // "Basic base64(user:password)", empty = no auth
  std::shared_ptr<LocalContent> local_;    // start() with collectables: the source itself
  std::shared_ptr<ContentSource> source_;  // what /metrics and /-/ready answer

  std::map<std::string, std::string> users_;  // user -> crypt(3) hash
  // Authorization headers that passed a hash check: bcrypt costs ~50 ms of CPU, not paid on
  // every scrape. Bounded; cleared when full.
  mutable std::mutex auth_mutex_;
  std::vector<std::string> verified_;
  struct FailureBucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<std::string, FailureBucket> failures_by_client_;  // bounded, see authenticate()
  std::atomic<std::uint64_t> auth_missing_{0}, auth_wrong_{0}, auth_rate_limited_{0};
};

// Splits "host:port" (host may be empty = every interface). False with `error` set when the
// text is not an IPv4 address with a port in 0..65535.
bool parse_listen_address(const std::string& text, std::string* host, int* port,
                          std::string* error);

}  // namespace dwcp
