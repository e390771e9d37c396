#include "dwcp_observer/http_server.h"

#include "dwcp_observer/model.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
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
             "\": expected IPV4:PORT (e.g. 127.0.0.1:9090, 0.0.0.0:9090) or :PORT, port 0..65535";
    return false;
  }
  *host = effective_host;
  *port = value;
  return true;
}

HttpStartResult HttpServer::start(const HttpOptions& options,
                                  std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
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
  server->collectables_ = std::move(collectables);
  if (!options.basic_auth_user.empty())
    server->expected_authorization_ =
        "Basic " + base64(options.basic_auth_user + ":" + options.basic_auth_password);

  const std::string ports = server->host_ + ":" + std::to_string(port);
  const std::string threads = std::to_string(options.threads > 0 ? options.threads : 4);
  const char* civet_options[] = {"listening_ports",    ports.c_str(),
                                 "num_threads",        threads.c_str(),
                                 "request_timeout_ms", "10000",
                                 "enable_keep_alive",  "no",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = capture_log;
  civetweb_last_log.clear();
  server->context_ = mg_start(&callbacks, nullptr, civet_options);
  if (server->context_ == nullptr) {
    std::string reason = diagnose_bind(host, port);
    if (reason.empty()) reason = civetweb_last_log.empty() ? "civetweb failed to start" : civetweb_last_log;
    result.error = "cannot listen on " + ports + ": " + reason +
                   " — pick another --listen port or stop the process that holds it";
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
  std::lock_guard<std::mutex> lock(mutex_);
  collectables_.push_back(std::move(collectable));
}

void HttpServer::set_ready(bool ready, std::string reason_if_not_ready) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    not_ready_reason_ = std::move(reason_if_not_ready);
  }
  ready_.store(ready);
}

std::string HttpServer::render_metrics() const {
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    collectables = collectables_;
  }
  return render_text(collectables);
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
    if (!expected_authorization_.empty()) {
      const char* given = mg_get_header(connection, "Authorization");
      if (given == nullptr || !constant_time_equal(given, expected_authorization_)) {
        respond(connection, 401, "Unauthorized", "text/plain; charset=utf-8",
                "basic auth required: configure the scrape job's basic_auth\n",
                "WWW-Authenticate: Basic realm=\"dwcp-observer\"\r\n");
        return 401;
      }
    }
    respond(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_metrics());
    return 200;
  }
  if (path == "/-/healthy" || path == "/health") {
    respond(connection, 200, "OK", "text/plain; charset=utf-8", "OK\n");
    return 200;
  }
  if (path == "/-/ready" || path == "/ready") {
    if (ready_.load()) {
      respond(connection, 200, "OK", "text/plain; charset=utf-8", "Ready\n");
      return 200;
    }
    std::string reason;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reason = not_ready_reason_;
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
