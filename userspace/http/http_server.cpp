#include "dwcp_observer/http_server.h"

#include "dwcp_observer/model.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <crypt.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <zlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

namespace dwcp {
namespace {

// civetweb reports start failures through its log callback on the starting thread.
thread_local std::string civetweb_last_log;

int capture_log(const struct mg_connection*, const char* message) {
  civetweb_last_log = message != nullptr ? message : "";
  return 1;  // handled: civetweb prints nothing to stderr
}

int trampoline(struct mg_connection* connection, void* server) {
  return static_cast<HttpServer*>(server)->handle(connection);
}

std::string base64(const std::string& in) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

// Same time whatever the first differing byte: the password must not leak through timing.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

// "Basic dXNlcjpwYXNz" -> "user:pass"; false when not that form. Bounded: the header is at most
// civetweb's max_request_size.
bool decode_basic(const char* header, std::string* decoded) {
  if (header == nullptr || std::strncmp(header, "Basic ", 6) != 0) return false;
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (const char* p = header + 6; *p != '\0' && *p != '='; ++p) {
    const char* at = std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", *p);
    if (at == nullptr || *p == '\0') return false;
    value = (value << 6) | static_cast<unsigned>(at - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  *decoded = std::move(out);
  return true;
}

// crypt(3) of `password` with the stored hash as its setting; equal hashes = right password.
bool hash_matches(const std::string& password, const std::string& hash) {
  struct crypt_data data {};
  const char* computed = crypt_r(password.c_str(), hash.c_str(), &data);
  if (computed == nullptr || computed[0] == '*') return false;  // "*0"/"*1": bad setting
  return constant_time_equal(computed, hash);
}

std::string gzip(const std::string& in) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return "";
  std::string out(deflateBound(&stream, in.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.avail_in = static_cast<uInt>(in.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return rc == Z_STREAM_END ? out : "";
}

bool accepts_gzip(struct mg_connection* connection) {
  const char* accept = mg_get_header(connection, "Accept-Encoding");
  return accept != nullptr && std::strstr(accept, "gzip") != nullptr;
}

// civetweb calls this with the SSL_CTX it made: we load cert, key and client CA ourselves
// (civetweb's own option wants key and certificate in one file; exporter-toolkit has two).
int init_tls(void* ssl_context, void* user_data) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_context);
  const auto* tls = static_cast<const TlsOptions*>(user_data);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file.c_str()) != 1) return -1;
  if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1) return -1;
  if (SSL_CTX_check_private_key(ctx) != 1) return -1;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!tls->client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls->client_ca_file.c_str(), nullptr) != 1) return -1;
    int mode = SSL_VERIFY_PEER;
    if (tls->client_auth_type == "RequireAndVerifyClientCert") mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  return 1;  // certificate set up: civetweb must not look for ssl_certificate
}

void respond(struct mg_connection* connection, int status, const char* status_text,
             const char* content_type, const std::string& body, const char* extra_headers = "") {
  const struct mg_request_info* request = mg_get_request_info(connection);
  const bool head = request != nullptr && request->request_method != nullptr &&
                    std::strcmp(request->request_method, "HEAD") == 0;
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-cache\r\n%sConnection: close\r\n\r\n",
            status, status_text, content_type, body.size(), extra_headers);
  if (!head) mg_write(connection, body.data(), body.size());
}

// Why a bind failed, found by trying it ourselves (civetweb's message does not carry errno).
std::string diagnose_bind(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::strerror(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  if (!host.empty()) ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  std::string reason;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    reason = errno == EADDRINUSE ? "address already in use" : std::strerror(errno);
  }
  ::close(fd);
  return reason;
}

}  // namespace

bool parse_listen_address(const std::string& text, std::string* host, int* port,
                          std::string* error) {
  if (!text.empty() && text.front() == '[') {
    *error = "\"" + text +
             "\" is an IPv6 address: this build serves IPv4 only (Debian's civetweb has no IPv6); "
             "use 127.0.0.1:PORT or 0.0.0.0:PORT";
    return false;
  }
  const std::size_t colon = text.rfind(':');
  const std::string host_part = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string port_part = colon == std::string::npos ? text : text.substr(colon + 1);
  bool port_ok = !port_part.empty() && port_part.size() <= 5 &&
                 port_part.find_first_not_of("0123456789") == std::string::npos;
  const int value = port_ok ? std::stoi(port_part) : -1;
  port_ok = port_ok && value <= 65535;
  in_addr parsed{};
  const std::string effective_host = host_part == "localhost" ? "127.0.0.1" : host_part;
  if (!port_ok || (!effective_host.empty() && ::inet_pton(AF_INET, effective_host.c_str(), &parsed) != 1)) {
    *error = "invalid listen address \"" + text +
             "\": expected IPV4:PORT (e.g. 127.0.0.1:9476, 0.0.0.0:9476) or :PORT, port 0..65535";
    return false;
  }
  *host = effective_host;
  *port = value;
  return true;
}

HttpStartResult HttpServer::start(const HttpOptions& options,
                                  std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  auto local = std::make_shared<LocalContent>(std::move(collectables));
  HttpStartResult result = start_with(options, local);
  if (result.server) result.server->local_ = std::move(local);
  return result;
}

HttpStartResult HttpServer::start_with(const HttpOptions& options, std::shared_ptr<ContentSource> source) {
  static std::once_flag civetweb_init;
  std::call_once(civetweb_init, [] { mg_init_library(0); });

  HttpStartResult result;
  std::string host;
  int port = 0;
  if (!parse_listen_address(options.listen_address, &host, &port, &result.error)) return result;
  if (options.basic_auth_user.empty() != options.basic_auth_password.empty()) {
    result.error = "basic auth needs both a user and a password (got only one)";
    return result;
  }

  std::unique_ptr<HttpServer> server(new HttpServer());
  server->host_ = host.empty() ? "0.0.0.0" : host;
  server->title_ = options.title;
  server->source_ = std::move(source);
  if (!options.basic_auth_user.empty())
    server->expected_authorization_ =
        "Basic " + base64(options.basic_auth_user + ":" + options.basic_auth_password);
  server->users_ = options.basic_auth_users;
  server->tls_ = !options.tls.cert_file.empty();
  if (server->tls_ && options.tls.key_file.empty()) {
    result.error = "TLS needs both a certificate and a key file (got only the certificate)";
    return result;
  }
  if (server->tls_ && mg_check_feature(MG_FEATURES_SSL) == 0) {
    result.error = "TLS asked for, but this civetweb has no TLS support";
    return result;
  }

  const std::string ports = server->host_ + ":" + std::to_string(port) + (server->tls_ ? "s" : "");
  const std::string threads = std::to_string(options.threads > 0 ? options.threads : 4);
  const std::string timeout = std::to_string(options.request_timeout_ms > 0 ? options.request_timeout_ms : 10000);
  // The queue of accepted connections waiting for a worker: idle connections wait there
  // instead of being refused while workers are busy.
  const std::string queue = std::to_string(4 * (options.threads > 0 ? options.threads : 4));
  const char* civet_options[] = {"listening_ports",    ports.c_str(),
                                 "num_threads",        threads.c_str(),
                                 "request_timeout_ms", timeout.c_str(),
                                 "linger_timeout_ms",  "0",
                                 "connection_queue",   queue.c_str(),
                                 "max_request_size",   "8192",
                                 "enable_keep_alive",  "no",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = capture_log;
  if (server->tls_) callbacks.init_ssl = init_tls;
  civetweb_last_log.clear();
  // The TLS options outlive mg_start (init_ssl reads them during the call only).
  TlsOptions tls = options.tls;
  if (server->tls_) mg_init_library(MG_FEATURES_SSL);
  server->context_ = mg_start(&callbacks, server->tls_ ? &tls : nullptr, civet_options);
  if (server->context_ == nullptr) {
    std::string reason = diagnose_bind(host, port);
    if (reason.empty()) reason = civetweb_last_log.empty() ? "civetweb failed to start" : civetweb_last_log;
    if (server->tls_ && reason.find("SSL") != std::string::npos)
      reason += " (check tls_server_config: cert_file, key_file, client_ca_file must be readable PEM "
                "files and the key must match the certificate)";
    result.error = "cannot listen on " + ports + ": " + reason +
                   " — pick another --web.listen-address port or stop the process that holds it";
    return result;
  }
  mg_set_request_handler(server->context_, "/", trampoline, server.get());

  mg_server_port bound[4];
  const int count = mg_get_server_ports(server->context_, 4, bound);
  server->port_ = count > 0 ? bound[0].port : port;
  result.server = std::move(server);
  return result;
}

// Connects and hangs up at once: wakes civetweb's listener from its poll().
void poke(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (host == "0.0.0.0" || ::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::close(fd);
}

HttpServer::~HttpServer() {
  if (context_ == nullptr) return;
  // mg_stop() alone waits up to 2 s for the listener's poll() to time out (civetweb's
  // SOCKET_TIMEOUT_QUANTUM); a connection after the stop flag is set ends it at once.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(context_);
    stopped = true;
  });
  for (int i = 0; i < 400 && !stopped; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!stopped) poke(host_, port_);
  }
  stopper.join();
}

std::string HttpServer::address() const { return host_ + ":" + std::to_string(port_); }

void HttpServer::add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
  if (local_) local_->add_collectable(std::move(collectable));
}

void HttpServer::set_ready(bool ready, std::string reason_if_not_ready) {
  if (local_) local_->set_ready(ready, std::move(reason_if_not_ready));
}

std::string HttpServer::render_metrics() const {
  std::string body;
  if (!source_->metrics(&body)) return "";
  // The auth counter exists only where auth does (the hook library's plain server has none).
  const bool auth = !expected_authorization_.empty() || !users_.empty();
  return body + (auth ? auth_failure_text() : "");
}

bool LocalContent::metrics(std::string* body) {
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    collectables = collectables_;
  }
  *body = render_text(collectables);
  return true;
}

bool LocalContent::ready(std::string* reason) {
  if (ready_.load()) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  *reason = not_ready_reason_;
  return false;
}

void LocalContent::add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
  std::lock_guard<std::mutex> lock(mutex_);
  collectables_.push_back(std::move(collectable));
}

void LocalContent::set_ready(bool ready, std::string reason_if_not_ready) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    not_ready_reason_ = std::move(reason_if_not_ready);
  }
  ready_.store(ready);
}

std::string HttpServer::auth_failure_text() const {
  std::string text =
      "# HELP dwcp_observer_http_auth_failures_total Requests to /metrics refused for authentication, "
      "by reason (missing or wrong credentials, or refused unchecked because the client failed too "
      "often).\n# TYPE dwcp_observer_http_auth_failures_total counter\n";
  const std::pair<const char*, std::uint64_t> rows[] = {
      {"missing", auth_missing_.load()}, {"wrong", auth_wrong_.load()}, {"rate_limited", auth_rate_limited_.load()}};
  for (const auto& [reason, count] : rows)
    text += std::string("dwcp_observer_http_auth_failures_total{reason=\"") + reason + "\"} " +
            std::to_string(count) + "\n";
  return text;
}

// Each client address may fail a burst of kBurst logins, then one per second; beyond that its
// requests are refused without a hash check (bcrypt is the costly part of a guess).
HttpServer::AuthResult HttpServer::authenticate(mg_connection* connection) {
  constexpr double kBurst = 10;
  constexpr double kPerSecond = 1;
  constexpr std::size_t kMaxClients = 4096;  // failing addresses remembered (then forgotten at once)
  const char* given = mg_get_header(connection, "Authorization");
  const mg_request_info* request = mg_get_request_info(connection);
  const std::string client = request != nullptr ? request->remote_addr : "";
  const auto now = std::chrono::steady_clock::now();

  std::lock_guard<std::mutex> lock(auth_mutex_);
  if (given != nullptr)
    for (const auto& header : verified_)
      if (constant_time_equal(given, header)) return AuthResult::kOk;
  auto bucket = failures_by_client_.find(client);
  if (bucket != failures_by_client_.end()) {
    const double elapsed = std::chrono::duration<double>(now - bucket->second.at).count();
    bucket->second.tokens = std::min(kBurst, bucket->second.tokens + elapsed * kPerSecond);
    bucket->second.at = now;
    if (bucket->second.tokens < 1) {
      ++auth_rate_limited_;
      return AuthResult::kRateLimited;
    }
  }
  bool ok = false;
  std::string decoded;
  if (given != nullptr && !users_.empty() && decode_basic(given, &decoded)) {
    const std::size_t colon = decoded.find(':');
    const auto user = colon == std::string::npos ? users_.end() : users_.find(decoded.substr(0, colon));
    ok = user != users_.end() && hash_matches(decoded.substr(colon + 1), user->second);
  } else if (given != nullptr && users_.empty()) {
    ok = constant_time_equal(given, expected_authorization_);
  }
  if (ok) {
    if (verified_.size() >= 16) verified_.clear();
    verified_.emplace_back(given);
    return AuthResult::kOk;
  }
  if (failures_by_client_.size() >= kMaxClients) failures_by_client_.clear();
  auto& entry = failures_by_client_[client];
  if (entry.at == std::chrono::steady_clock::time_point{}) entry = {kBurst, now};
  entry.tokens -= 1;
  if (given == nullptr) {
    ++auth_missing_;
    return AuthResult::kMissing;
  }
  ++auth_wrong_;
  return AuthResult::kWrong;
}

int HttpServer::handle(struct mg_connection* connection) {
  const struct mg_request_info* request = mg_get_request_info(connection);
  const std::string method = request->request_method ? request->request_method : "";
  const std::string path = request->local_uri ? request->local_uri : "";
  if (method != "GET" && method != "HEAD") {
    respond(connection, 405, "Method Not Allowed", "text/plain; charset=utf-8",
            "only GET and HEAD are served\n", "Allow: GET, HEAD\r\n");
    return 405;
  }
  if (path == "/metrics") {
    if (!expected_authorization_.empty() || !users_.empty()) {
      const AuthResult auth = authenticate(connection);
      if (auth == AuthResult::kRateLimited) {
        respond(connection, 429, "Too Many Requests", "text/plain; charset=utf-8",
                "too many failed logins from this address: try again later\n", "Retry-After: 1\r\n");
        return 429;
      }
      if (auth != AuthResult::kOk) {
        respond(connection, 401, "Unauthorized", "text/plain; charset=utf-8",
                "basic auth required: configure the scrape job's basic_auth\n",
                "WWW-Authenticate: Basic realm=\"dwcp-observer\"\r\n");
        return 401;
      }
    }
    std::string body;
    if (!source_->metrics(&body)) {
      respond(connection, 503, "Service Unavailable", "text/plain; charset=utf-8", "metrics unavailable\n");
      return 503;
    }
    if (!expected_authorization_.empty() || !users_.empty()) body += auth_failure_text();
    if (accepts_gzip(connection)) {
      const std::string compressed = gzip(body);
      if (!compressed.empty()) {
        respond(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", compressed,
                "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
        return 200;
      }
    }
    respond(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    return 200;
  }
  if (path == "/-/healthy" || path == "/health") {
    respond(connection, 200, "OK", "text/plain; charset=utf-8", "OK\n");
    return 200;
  }
  if (path == "/-/ready" || path == "/ready") {
    std::string reason;
    if (source_->ready(&reason)) {
      respond(connection, 200, "OK", "text/plain; charset=utf-8", "Ready\n");
      return 200;
    }
    respond(connection, 503, "Service Unavailable", "text/plain; charset=utf-8",
            "Not ready: " + reason + "\n");
    return 503;
  }
  if (path == "/") {
    const std::string page =
        "<!DOCTYPE html>\n<html><head><title>" + title_ + "</title></head><body>\n<h1>" + title_ +
        "</h1>\n<ul>\n<li><a href=\"/metrics\">/metrics</a> Prometheus metrics</li>\n"
        "<li><a href=\"/-/healthy\">/-/healthy</a> liveness</li>\n"
        "<li><a href=\"/-/ready\">/-/ready</a> readiness</li>\n</ul>\n</body></html>\n";
    respond(connection, 200, "OK", "text/html; charset=utf-8", page);
    return 200;
  }
  respond(connection, 404, "Not Found", "text/plain; charset=utf-8",
          "not found: try /metrics, /-/healthy, /-/ready\n");
  return 404;
}

}  // namespace dwcp
