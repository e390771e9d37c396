// A small HTTP/1.1 server for /metrics and the health endpoints: one epoll loop, OpenSSL 3 for
// TLS, worker pools for the slow parts. Our own because prometheus-cpp's Exposer has no API for
// extra handlers, and civetweb (a thread per connection) cannot hold 1,000 idle connections and
// still answer a scrape (issue 20: 13.2 s).
//
//   /metrics (telemetry_path)  Prometheus text 0.0.4, or OpenMetrics 1.0 when the scraper's
//                              Accept asks for it; gzip on Accept-Encoding: gzip
//   /-/healthy, /health        200 "OK" while the process serves
//   /-/ready, /ready           200 "Ready" once set_ready(true), else 503 with the reason
//   /                          small HTML landing page with links
//
// Under abuse (docs/security.md, "HTTP front"):
//  - connections: at most max_connections; at the cap a new one evicts the connection that has
//    waited longest without a request in progress, so idle sockets cannot lock a scraper out.
//    A request head must arrive within request_timeout_ms, a kept-alive connection may idle
//    idle_timeout_ms between requests.
//  - passwords: bcrypt runs on a small pool at lower CPU priority (auth_threads, at most
//    auth_queue checks waiting; beyond that refused unchecked), never on the loop; an unknown
//    user name costs one bcrypt of the highest configured cost, like a known one; a verified
//    Authorization header is remembered, so the configured scraper pays no hash per scrape.
//  - scrapes in flight: at most max_requests (503 beyond, as promhttp does).
//  - TLS 1.2 only with forward-secret AEAD suites unless cipher_suites says otherwise; the
//    certificate files are re-read on the next handshake after they change, and on reload_tls().
//
// HTTP/1.1 only: HTTP/2 is not served (ALPN offers http/1.1); Prometheus falls back to 1.1.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dwcp_observer/result.h"
#include "log/log.h"

namespace dwcp {

// exporter-toolkit's tls_server_config: PEM files, client certificates, versions, suites, curves.
struct TlsOptions {
  std::string cert_file;  // empty: plain HTTP
  std::string key_file;
  std::string client_ca_file;
  // NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven,
  // RequireAndVerifyClientCert (Go's tls.ClientAuthType names).
  std::string client_auth_type = "NoClientCert";
  std::string min_version = "TLS12";  // TLS12 or TLS13
  std::string max_version;            // empty: the newest (TLS13)
  // Go's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...) of TLS 1.2 suites; empty: the
  // forward-secret AEAD ones (ECDHE with AES-GCM or ChaCha20-Poly1305). TLS 1.3 suites are all
  // AEAD and forward secret, and are not configurable (as in Go).
  std::vector<std::string> cipher_suites;
  std::vector<std::string> curve_preferences;  // Go's names: X25519, CurveP256, CurveP384, CurveP521
  bool prefer_server_cipher_suites = true;
};

struct HttpOptions {
  // "host:port", "[v6]:port", ":port" (every interface) or a host name (its first address).
  // Port 0 picks a free port (see HttpServer::port()).
  std::string listen_address = "127.0.0.1:9090";
  std::vector<std::string> extra_listen_addresses;  // more --web.listen-address flags
  // Already listening sockets to serve instead of binding (systemd socket activation).
  std::vector<int> inherited_listeners;
  std::string telemetry_path = "/metrics";
  int max_connections = 512;       // open connections, idle or not (the oldest idle one yields)
  int max_requests = 40;           // /metrics and /-/ready requests in flight; 0: no limit
  int request_timeout_ms = 10000;  // TLS handshake + request head; each write of the answer
  int idle_timeout_ms = 60000;     // a kept-alive connection between requests
  int auth_threads = 2;            // concurrent bcrypt checks
  int auth_queue = 16;             // checks waiting for one of them
  // Basic auth for /metrics when both are non-empty (plaintext; the hook library's form). The
  // health endpoints stay open (probes).
  std::string basic_auth_user;
  std::string basic_auth_password;
  // Basic auth for /metrics: user -> crypt(3) hash ($2b$/$2y$ bcrypt). Takes precedence.
  std::map<std::string, std::string> basic_auth_users;
  TlsOptions tls;
  // http_server_config.headers: added to every answer (names checked by the web config).
  std::map<std::string, std::string> headers;
  std::string title = "dwcp-observer";  // landing page title
  // Where its lines go (a certificate that failed to reload: warn); default: the process's log
  // on stderr (log/log.h). A host program may hand a Logger with a sink of its own.
  log::Logger log;
};

// Where the answers of /metrics and /-/ready come from. The default (LocalContent) renders
// collectables of this process; the agent's unprivileged HTTP process asks its privileged parent
// instead (userspace/agent/http_child.h), through the same server.
class ContentSource {
 public:
  virtual ~ContentSource() = default;
  // The /metrics body (text format 0.0.4, without the server's own auth counter); nullopt:
  // unavailable (503).
  virtual std::optional<std::string> metrics() = 0;
  // /-/ready: ok when ready, else an error saying why not.
  virtual Result<void> ready() = 0;
};

// Collectables of this process (held weakly: a gone one is skipped) and a readiness flag.
class LocalContent : public ContentSource {
 public:
  explicit LocalContent(std::vector<std::weak_ptr<prometheus::Collectable>> collectables = {})
      : collectables_(std::move(collectables)) {}
  std::optional<std::string> metrics() override;
  Result<void> ready() override;
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

class HttpServer {
 public:
  // Starts listening at once. Collectables are held weakly (a gone one is skipped). On failure
  // the error says what is wrong and what to do.
  static Result<std::unique_ptr<HttpServer>> start(const HttpOptions& options,
                                                   std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  // Serves what `source` answers; add_collectable/set_ready do nothing then (the source decides).
  static Result<std::unique_ptr<HttpServer>> start_with(const HttpOptions& options,
                                                        std::shared_ptr<ContentSource> source);
  ~HttpServer();  // stops the server
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;                            // the first bound port (real one when asked for 0)
  std::string address() const;                 // the first "host:port" actually bound
  std::vector<std::string> addresses() const;  // every one
  void add_collectable(std::weak_ptr<prometheus::Collectable> collectable);
  // /-/ready answers 503 with `reason_if_not_ready` until set_ready(true).
  void set_ready(bool ready, std::string reason_if_not_ready = "starting");
  bool ready() const;
  std::string render_metrics() const;  // the /metrics body
  bool tls() const;
  // Re-reads the certificate files on the next handshake even if they look unchanged (SIGHUP).
  void reload_tls();

  class Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (host may be empty = every interface; "[v6]:port"). An error when the port
// is not 0..65535 or the form is wrong. Host names are resolved at bind.
struct ListenAddress {
  std::string host;  // "localhost" becomes 127.0.0.1
  int port = 0;
};
Result<ListenAddress> parse_listen_address(const std::string& text);

// Prometheus text 0.0.4 (as prometheus-cpp writes it) to OpenMetrics 1.0 text: counter families
// named without _total, "unknown" for untyped, `# EOF` at the end.
std::string to_openmetrics(const std::string& text);

}  // namespace dwcp
