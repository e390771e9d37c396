// The server of http_server.h: one epoll loop owns every socket (accept, TLS handshakes, request
// heads, writes); what may take time runs on pools and hands its answer back through an eventfd:
// bcrypt on BasicAuth's pool, /metrics and /-/ready (a round trip to the agent) on the content
// pool. Nothing the loop does waits for a client, so idle or slow connections cost a file
// descriptor and a few bytes, never a thread.
#include "dwcp_observer/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "dwcp_observer/model.h"
#include "http/basic_auth.h"
#include "http/tls_context.h"
#include "http/work_pool.h"

namespace dwcp {
namespace {

using Clock = std::chrono::steady_clock;
using http::BasicAuth;

constexpr std::size_t kMaxHead = 8192;                // request line and headers
constexpr std::uint64_t kEventId = 0;                 // epoll data of the eventfd
constexpr std::uint64_t kFirstConnection = 1u << 16;  // below: listener ids

struct Request {
  std::string method, path, version, authorization, accept, accept_encoding, connection;
  bool has_body = false;
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

// The head (up to and without the blank line): request line and the headers we use.
bool parse_head(const std::string& head, Request* request) {
  std::size_t at = head.find("\r\n");
  const std::string line = head.substr(0, at);
  const std::size_t a = line.find(' '), b = line.rfind(' ');
  if (a == std::string::npos || b == a) return false;
  request->method = line.substr(0, a);
  request->path = line.substr(a + 1, b - a - 1);
  request->version = line.substr(b + 1);
  if (request->version != "HTTP/1.1" && request->version != "HTTP/1.0") return false;
  request->path = request->path.substr(0, request->path.find('?'));
  while (at != std::string::npos && at + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string field = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    at = next;
    const std::size_t colon = field.find(':');
    if (colon == std::string::npos) return false;
    const std::string name = lower(field.substr(0, colon));
    const std::string value = trim(field.substr(colon + 1));
    if (name == "authorization")
      request->authorization = value;
    else if (name == "accept")
      request->accept = value;
    else if (name == "accept-encoding")
      request->accept_encoding = value;
    else if (name == "connection")
      request->connection = lower(value);
    else if (name == "transfer-encoding" || (name == "content-length" && value != "0"))
      request->has_body = true;
  }
  return true;
}

// q of the best entry of `accept` that starts with `type` (0 when none).
double accept_quality(const std::string& accept, const std::string& type) {
  double best = 0;
  std::size_t start = 0;
  while (start <= accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string::npos) end = accept.size();
    const std::string entry = lower(trim(accept.substr(start, end - start)));
    start = end + 1;
    if (entry.rfind(type, 0) != 0) continue;
    double q = 1;
    const std::size_t at = entry.find("q=");
    if (at != std::string::npos) q = std::atof(entry.c_str() + at + 2);
    best = std::max(best, q);
  }
  return best;
}

bool wants_openmetrics(const std::string& accept) {
  const double om = accept_quality(accept, "application/openmetrics-text");
  return om > 0 && om >= accept_quality(accept, "text/plain");
}

std::string gzip(const std::string& in) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return "";
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

std::string address_text(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
  inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
  return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
}

std::string client_host(const sockaddr_storage& address) {
  const std::string text = address_text(address);
  return text.substr(0, text.rfind(':'));
}

// A bound, listening, non-blocking socket for `text`.
Result<int> listen_on(const std::string& text) {
  auto parsed = parse_listen_address(text);
  if (!parsed) return parsed.failure();
  const std::string& host = parsed->host;
  const int port = parsed->port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.empty() ? "0.0.0.0" : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) return Error{"cannot listen on " + text + ": cannot resolve " + host + ": " + gai_strerror(rc)};
  // Like Go's net.Listen, a name with several addresses listens on one (IPv4 first).
  const addrinfo* pick = found;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  int fd = ::socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    const int err = errno;
    Error error =
        Error{"cannot listen on " + text + ": " + (err == EADDRINUSE ? "address already in use" : std::strerror(err)) +
                  " — pick another --web.listen-address port or stop the process that holds it",
              err, ErrorKind::kListen};
    if (fd >= 0) ::close(fd);
    freeaddrinfo(found);
    return error;
  }
  freeaddrinfo(found);
  return fd;
}

std::string bound_address(int fd) {
  sockaddr_storage address{};
  socklen_t size = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return "";
  return address_text(address);
}

}  // namespace

Result<ListenAddress> parse_listen_address(const std::string& text) {
  std::string host_part, port_part;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find("]:");
    if (close == std::string::npos) return Error{"invalid listen address \"" + text + "\": expected [IPV6]:PORT"};
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
    in6_addr parsed{};
    if (inet_pton(AF_INET6, host_part.c_str(), &parsed) != 1)
      return Error{"invalid listen address \"" + text + "\": " + host_part + " is not an IPv6 address"};
  } else {
    const std::size_t colon = text.rfind(':');
    host_part = colon == std::string::npos ? "" : text.substr(0, colon);
    port_part = colon == std::string::npos ? text : text.substr(colon + 1);
  }
  bool port_ok =
      !port_part.empty() && port_part.size() <= 5 && port_part.find_first_not_of("0123456789") == std::string::npos;
  const int value = port_ok ? std::stoi(port_part) : -1;
  port_ok = port_ok && value <= 65535;
  // A host: an address, or a name (letters, digits, dots, dashes), resolved at bind.
  const bool host_ok = host_part.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") == std::string::npos &&
                       (host_part.empty() || std::isalnum(static_cast<unsigned char>(host_part.back())));
  bool numeric_ok = true;
  if (!host_part.empty() && host_part.find_first_not_of("0123456789.") == std::string::npos) {
    in_addr parsed{};
    numeric_ok = inet_pton(AF_INET, host_part.c_str(), &parsed) == 1;
  }
  if (!port_ok || !host_ok || !numeric_ok)
    return Error{"invalid listen address \"" + text +
                 "\": expected HOST:PORT (e.g. 127.0.0.1:9476, 0.0.0.0:9476, [::1]:9476, localhost:9476) or :PORT, "
                 "port 0..65535"};
  return ListenAddress{host_part == "localhost" ? "127.0.0.1" : host_part, value};
}

struct Connection {
  enum class State { kReading, kWorking, kWriting };
  std::uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  std::string client;
  State state = State::kReading;
  std::string in, out;
  std::size_t written = 0;
  bool close_after = false;
  bool ssl_wants_write = false, ssl_wants_read = false;
  std::uint32_t events = 0;         // what epoll watches now
  Clock::time_point waiting_since;  // when it last began waiting for a request (eviction order)
  Clock::time_point deadline;
};

class HttpServer::Impl {
 public:
  HttpOptions options;
  std::shared_ptr<LocalContent> local;
  std::shared_ptr<ContentSource> source;
  std::unique_ptr<http::TlsContext> tls;
  std::vector<std::pair<int, std::string>> listeners;  // fd, address
  int epoll_fd = -1, event_fd = -1;
  std::atomic<bool> stopping{false}, reload{false};
  std::atomic<int> in_flight{0};
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::uint64_t next_id = kFirstConnection;
  std::mutex posted_mutex;
  std::vector<std::pair<std::uint64_t, std::pair<std::string, bool>>> posted;  // id, (answer, close)
  std::unique_ptr<BasicAuth> auth;
  std::unique_ptr<http::WorkPool> content;  // /metrics and /-/ready
  std::thread loop;

  ~Impl() {
    stopping = true;
    if (event_fd >= 0) {
      const std::uint64_t one = 1;
      (void)!::write(event_fd, &one, sizeof(one));
    }
    if (loop.joinable()) loop.join();
    auth.reset();  // its threads may still hand work to the content pool
    content.reset();
    for (auto& [id, connection] : connections) drop(*connection);
    for (auto& [fd, address] : listeners) ::close(fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (event_fd >= 0) ::close(event_fd);
  }

  std::string answer(int status, const char* status_text, const std::string& type, const std::string& body, bool head,
                     bool close, const std::string& extra = "") const {
    std::string text = "HTTP/1.1 " + std::to_string(status) + " " + status_text + "\r\nContent-Type: " + type +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-cache\r\n" + extra;
    for (const auto& [name, value] : options.headers) text += name + ": " + value + "\r\n";
    if (close) text += "Connection: close\r\n";
    text += "\r\n";
    if (!head) text += body;
    return text;
  }

  void post(std::uint64_t id, std::string text, bool close) {
    {
      std::lock_guard<std::mutex> lock(posted_mutex);
      posted.emplace_back(id, std::make_pair(std::move(text), close));
    }
    const std::uint64_t one = 1;
    (void)!::write(event_fd, &one, sizeof(one));
  }

  // --- the slow parts, on pools -----------------------------------------------------------
  void start_content(std::uint64_t id, const Request& request, bool close) {
    const bool head = request.method == "HEAD";
    if (options.max_requests > 0 && in_flight.fetch_add(1) >= options.max_requests) {
      in_flight.fetch_sub(1);
      post(id,
           answer(503, "Service Unavailable", "text/plain; charset=utf-8",
                  "Limit of concurrent requests reached (" + std::to_string(options.max_requests) +
                      "), try again later.\n",
                  head, close),
           close);
      return;
    }
    const bool metrics = request.path == options.telemetry_path;
    const bool om = wants_openmetrics(request.accept);
    const bool packed = request.accept_encoding.find("gzip") != std::string::npos;
    const bool queued = content->submit([this, id, head, close, metrics, om, packed] {
      std::string text = metrics ? render(head, close, om, packed) : readiness(head, close);
      if (options.max_requests > 0) in_flight.fetch_sub(1);
      post(id, std::move(text), close);
    });
    if (!queued) {
      if (options.max_requests > 0) in_flight.fetch_sub(1);
      post(id,
           answer(503, "Service Unavailable", "text/plain; charset=utf-8", "too many requests waiting\n", head, close),
           close);
    }
  }

  std::string render(bool head, bool close, bool om, bool packed) {
    std::optional<std::string> rendered = source->metrics();
    if (!rendered)
      return answer(503, "Service Unavailable", "text/plain; charset=utf-8", "metrics unavailable\n", head, close);
    std::string body = std::move(*rendered);
    if (auth->enabled()) body += auth->failure_metrics();
    std::string type = "text/plain; version=0.0.4; charset=utf-8";
    if (om) {
      body = to_openmetrics(body);
      type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    }
    if (packed) {
      std::string compressed = gzip(body);
      if (!compressed.empty())
        return answer(200, "OK", type, compressed, head, close, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
    }
    return answer(200, "OK", type, body, head, close);
  }

  std::string readiness(bool head, bool close) {
    const Result<void> ready = source->ready();
    if (ready) return answer(200, "OK", "text/plain; charset=utf-8", "Ready\n", head, close);
    return answer(503, "Service Unavailable", "text/plain; charset=utf-8", "Not ready: " + ready.error() + "\n", head,
                  close);
  }

  void after_auth(std::uint64_t id, const Request& request, bool close, BasicAuth::Verdict result) {
    const bool head = request.method == "HEAD";
    switch (result) {
      case BasicAuth::Verdict::kOk:
        return start_content(id, request, close);
      case BasicAuth::Verdict::kRateLimited:
        return post(
            id,
            answer(429, "Too Many Requests", "text/plain; charset=utf-8",
                   "too many failed logins from this address: try again later\n", head, close, "Retry-After: 1\r\n"),
            close);
      case BasicAuth::Verdict::kBusy:
        return post(id,
                    answer(429, "Too Many Requests", "text/plain; charset=utf-8",
                           "too many password checks waiting: try again later\n", head, close, "Retry-After: 1\r\n"),
                    close);
      default:
        return post(id,
                    answer(401, "Unauthorized", "text/plain; charset=utf-8",
                           "basic auth required: configure the scrape job's basic_auth\n", head, close,
                           "WWW-Authenticate: Basic realm=\"dwcp-observer\"\r\n"),
                    close);
    }
  }

  // --- the loop ---------------------------------------------------------------------------
  void watch(Connection& c) {
    std::uint32_t events = 0;
    if (c.state == Connection::State::kReading) events = c.ssl_wants_write ? EPOLLOUT : EPOLLIN;
    if (c.state == Connection::State::kWriting) events = c.ssl_wants_read ? EPOLLIN : EPOLLOUT;
    if (events == c.events) return;
    epoll_event event{};
    event.events = events;
    event.data.u64 = c.id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
    c.events = events;
  }

  void drop(Connection& c) {
    if (c.ssl != nullptr) SSL_free(c.ssl);  // no close_notify: the peer may be gone or hostile
    ::close(c.fd);                          // also leaves the epoll set
    c.fd = -1;
  }

  void close(std::uint64_t id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    drop(*it->second);
    connections.erase(it);
  }

  // At the cap: the connection that has waited longest for a request yields to a new one
  // (never one whose request is being answered: those are bounded by max_requests).
  bool evict_one() {
    Connection* oldest = nullptr;
    for (auto& [id, c] : connections)
      if (c->state == Connection::State::kReading && (oldest == nullptr || c->waiting_since < oldest->waiting_since))
        oldest = c.get();
    if (oldest == nullptr) return false;
    close(oldest->id);
    return true;
  }

  void accept_from(int listener) {
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage peer{};
      socklen_t size = sizeof(peer);
      const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0 && (errno == EMFILE || errno == ENFILE) && evict_one()) continue;  // a descriptor for the newcomer
      if (fd < 0) return;                                                           // EAGAIN
      if (static_cast<int>(connections.size()) >= options.max_connections && !evict_one()) {
        ::close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c = std::make_unique<Connection>();
      c->id = next_id++;
      c->fd = fd;
      c->client = client_host(peer);
      c->waiting_since = Clock::now();
      c->deadline = c->waiting_since + std::chrono::milliseconds(options.request_timeout_ms);
      if (tls) {
        c->ssl = SSL_new(tls->current(reload.exchange(false)));
        if (c->ssl == nullptr) {
          ::close(fd);
          continue;
        }
        SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
      }
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = c->id;
      c->events = EPOLLIN;
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
      connections.emplace(c->id, std::move(c));
    }
  }

  // False when the connection is finished with (closed by the peer or broken).
  bool read_some(Connection& c) {
    char buffer[16384];
    for (;;) {
      std::size_t got = 0;
      if (c.ssl != nullptr) {
        c.ssl_wants_write = false;
        ERR_clear_error();
        if (SSL_read_ex(c.ssl, buffer, sizeof(buffer), &got) != 1) {
          const int error = SSL_get_error(c.ssl, 0);
          if (error == SSL_ERROR_WANT_READ) return true;
          if (error == SSL_ERROR_WANT_WRITE) {
            c.ssl_wants_write = true;
            return true;
          }
          return false;
        }
      } else {
        const ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (n <= 0) return false;
        got = static_cast<std::size_t>(n);
      }
      if (c.in.empty()) c.deadline = Clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
      c.in.append(buffer, got);
      if (c.in.size() > 2 * kMaxHead) return true;  // enough to refuse it
    }
  }

  void on_readable(Connection& c) {
    if (!read_some(c)) return close(c.id);
    serve_buffered(c);
  }

  void serve_buffered(Connection& c) {
    const std::size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > kMaxHead)
        refuse(c, 431, "Request Header Fields Too Large");
      else
        watch(c);
      return;
    }
    Request request;
    const bool parsed = end <= kMaxHead && parse_head(c.in.substr(0, end), &request);
    c.in.erase(0, end + 4);
    if (!parsed) return refuse(c, 400, "Bad Request");
    dispatch(c, request);
  }

  void refuse(Connection& c, int status, const char* text) {
    c.state = Connection::State::kWorking;
    c.in.clear();
    start_writing(c, answer(status, text, "text/plain; charset=utf-8", std::string(text) + "\n", false, true), true);
  }

  void dispatch(Connection& c, const Request& request) {
    const bool head = request.method == "HEAD";
    const bool close = request.has_body || request.connection == "close" ||
                       (request.version == "HTTP/1.0" && request.connection != "keep-alive");
    c.state = Connection::State::kWorking;
    watch(c);
    const std::string& path = request.path;
    const char* text = "text/plain; charset=utf-8";
    if (request.method != "GET" && !head)
      return start_writing(c,
                           answer(405, "Method Not Allowed", text, "only GET and HEAD are served\n", false, true,
                                  "Allow: GET, HEAD\r\n"),
                           true);
    if (path == options.telemetry_path) {
      if (!auth->enabled()) return start_content(c.id, request, close);
      BasicAuth::Verdict now;
      const std::uint64_t id = c.id;
      if (auth->check(request.authorization, c.client, &now, [this, id, request, close](BasicAuth::Verdict result) {
            after_auth(id, request, close, result);
          }))
        after_auth(id, request, close, now);
      return;
    }
    if (path == "/-/ready" || path == "/ready") return start_content(c.id, request, close);
    if (path == "/-/healthy" || path == "/health")
      return start_writing(c, answer(200, "OK", text, "OK\n", head, close), close);
    if (path == "/") {
      const std::string& m = options.telemetry_path;
      const std::string page = "<!DOCTYPE html>\n<html><head><title>" + options.title + "</title></head><body>\n<h1>" +
                               options.title + "</h1>\n<ul>\n<li><a href=\"" + m + "\">" + m +
                               "</a> Prometheus metrics</li>\n<li><a href=\"/-/healthy\">/-/healthy</a> liveness</li>\n"
                               "<li><a href=\"/-/ready\">/-/ready</a> readiness</li>\n</ul>\n</body></html>\n";
      return start_writing(c, answer(200, "OK", "text/html; charset=utf-8", page, head, close), close);
    }
    start_writing(c,
                  answer(404, "Not Found", text,
                         "not found: try " + options.telemetry_path + ", /-/healthy, /-/ready\n", head, close),
                  close);
  }

  void start_writing(Connection& c, std::string text, bool close_after) {
    c.out = std::move(text);
    c.written = 0;
    c.close_after = close_after;
    c.state = Connection::State::kWriting;
    c.deadline = Clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
    write_some(c);
  }

  void write_some(Connection& c) {
    while (c.written < c.out.size()) {
      std::size_t sent = 0;
      if (c.ssl != nullptr) {
        c.ssl_wants_read = false;
        ERR_clear_error();
        if (SSL_write_ex(c.ssl, c.out.data() + c.written, c.out.size() - c.written, &sent) != 1) {
          const int error = SSL_get_error(c.ssl, 0);
          if (error == SSL_ERROR_WANT_READ) c.ssl_wants_read = true;
          if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) return close(c.id);
          return watch(c);
        }
      } else {
        const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch(c);
        if (n <= 0) return close(c.id);
        sent = static_cast<std::size_t>(n);
      }
      c.written += sent;
      c.deadline = Clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
    }
    if (c.close_after) {
      if (c.ssl == nullptr) ::shutdown(c.fd, SHUT_WR);  // lets the peer read to EOF
      return close(c.id);
    }
    // Kept alive: wait for the next request (maybe already buffered, in our buffer or OpenSSL's).
    c.out.clear();
    c.out.shrink_to_fit();
    c.state = Connection::State::kReading;
    c.waiting_since = Clock::now();
    c.deadline = c.waiting_since +
                 std::chrono::milliseconds(c.in.empty() ? options.idle_timeout_ms : options.request_timeout_ms);
    if (c.ssl != nullptr && SSL_pending(c.ssl) > 0) return on_readable(c);
    serve_buffered(c);
  }

  void on_event(std::uint64_t id, std::uint32_t events) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = *it->second;
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 && c.state != Connection::State::kReading) return close(id);
    if (c.state == Connection::State::kReading) return on_readable(c);
    if (c.state == Connection::State::kWriting) return write_some(c);
  }

  void take_posted() {
    std::uint64_t count = 0;
    (void)!::read(event_fd, &count, sizeof(count));
    std::vector<std::pair<std::uint64_t, std::pair<std::string, bool>>> answers;
    {
      std::lock_guard<std::mutex> lock(posted_mutex);
      answers.swap(posted);
    }
    for (auto& [id, reply] : answers) {
      auto it = connections.find(id);
      if (it == connections.end() || it->second->state != Connection::State::kWorking) continue;  // gone meanwhile
      start_writing(*it->second, std::move(reply.first), reply.second);
    }
  }

  void expire() {
    const auto now = Clock::now();
    std::vector<std::uint64_t> late;
    for (auto& [id, c] : connections)
      if (c->state != Connection::State::kWorking && now > c->deadline) late.push_back(id);
    for (std::uint64_t id : late) close(id);
  }

  void run() {
    epoll_event events[64];
    auto last_sweep = Clock::now();
    while (!stopping.load()) {
      const int n = epoll_wait(epoll_fd, events, 64, 250);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t id = events[i].data.u64;
        if (id == kEventId)
          take_posted();
        else if (id < kFirstConnection)
          accept_from(listeners[id - 1].first);
        else
          on_event(id, events[i].events);
      }
      if (Clock::now() - last_sweep > std::chrono::milliseconds(250)) {
        expire();
        last_sweep = Clock::now();
      }
    }
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(
    const HttpOptions& options, std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  auto local = std::make_shared<LocalContent>(std::move(collectables));
  auto result = start_with(options, local);
  if (result) (*result)->impl_->local = std::move(local);
  return result;
}

Result<std::unique_ptr<HttpServer>> HttpServer::start_with(const HttpOptions& options,
                                                           std::shared_ptr<ContentSource> source) {
  if (options.basic_auth_user.empty() != options.basic_auth_password.empty())
    return Error{"basic auth needs both a user and a password (got only one)"};
  if (!options.tls.cert_file.empty() && options.tls.key_file.empty())
    return Error{"TLS needs both a certificate and a key file (got only the certificate)"};
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // Every connection is a descriptor: raise the soft limit toward the cap, and keep the cap under
  // it (with room for the process's own descriptors) so that accept() never runs out.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    const rlim_t want = static_cast<rlim_t>(options.max_connections) + 64;
    if (files.rlim_cur < want) {
      files.rlim_cur = std::min(want, files.rlim_max);
      ::setrlimit(RLIMIT_NOFILE, &files);
      ::getrlimit(RLIMIT_NOFILE, &files);
    }
    impl->options.max_connections =
        static_cast<int>(std::min<rlim_t>(options.max_connections, files.rlim_cur > 96 ? files.rlim_cur - 64 : 32));
  }
  if (impl->options.telemetry_path.empty() || impl->options.telemetry_path[0] != '/')
    impl->options.telemetry_path = "/metrics";
  impl->source = std::move(source);
  if (!options.tls.cert_file.empty()) {
    impl->tls = std::make_unique<http::TlsContext>(options.tls, impl->options.log);
    if (Result<void> loaded = impl->tls->load(); !loaded)
      return Error{"cannot serve TLS: " + loaded.error() +
                   " (check tls_server_config: cert_file, key_file, client_ca_file must be readable PEM files and the "
                   "key must match the certificate)"};
  }
  if (options.inherited_listeners.empty()) {
    std::vector<std::string> addresses = {options.listen_address};
    addresses.insert(addresses.end(), options.extra_listen_addresses.begin(), options.extra_listen_addresses.end());
    for (const std::string& address : addresses) {
      const Result<int> fd = listen_on(address);
      if (!fd) return fd.failure();  // ~Impl closes the ones already bound
      impl->listeners.emplace_back(*fd, bound_address(*fd));
    }
  } else {
    for (int fd : options.inherited_listeners) {
      int flags = 0;
      socklen_t size = sizeof(flags);
      if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &flags, &size) != 0 || flags == 0)
        return Error{"inherited descriptor " + std::to_string(fd) + " is not a listening socket"};
      impl->listeners.emplace_back(fd, bound_address(fd));
    }
  }
  impl->auth =
      std::make_unique<BasicAuth>(options.basic_auth_users, options.basic_auth_user, options.basic_auth_password,
                                  std::max(1, options.auth_threads), std::max(1, options.auth_queue));
  impl->content = std::make_unique<http::WorkPool>(2, options.max_requests > 0 ? options.max_requests : 256);
  impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->event_fd < 0) return Error::system("cannot start the HTTP loop");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kEventId;
  epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->event_fd, &event);
  for (std::size_t i = 0; i < impl->listeners.size(); ++i) {
    ::fcntl(impl->listeners[i].first, F_SETFL, ::fcntl(impl->listeners[i].first, F_GETFL) | O_NONBLOCK);
    event.data.u64 = i + 1;
    epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->listeners[i].first, &event);
  }
  Impl* raw = impl.get();
  impl->loop = std::thread([raw] { raw->run(); });
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::move(impl);
  return Result<std::unique_ptr<HttpServer>>(std::move(server));
}

HttpServer::~HttpServer() = default;

int HttpServer::port() const {
  const std::string& address = impl_->listeners.front().second;
  return std::stoi(address.substr(address.rfind(':') + 1));
}

std::string HttpServer::address() const { return impl_->listeners.front().second; }

std::vector<std::string> HttpServer::addresses() const {
  std::vector<std::string> out;
  for (const auto& [fd, address] : impl_->listeners) out.push_back(address);
  return out;
}

bool HttpServer::tls() const { return impl_->tls != nullptr; }
void HttpServer::reload_tls() { impl_->reload = true; }

void HttpServer::add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
  if (impl_->local) impl_->local->add_collectable(std::move(collectable));
}

void HttpServer::set_ready(bool ready, std::string reason_if_not_ready) {
  if (impl_->local) impl_->local->set_ready(ready, std::move(reason_if_not_ready));
}

bool HttpServer::ready() const { return impl_->local && impl_->local->is_ready(); }

std::string HttpServer::render_metrics() const {
  std::optional<std::string> body = impl_->source->metrics();
  if (!body) return "";
  // The auth counter exists only where auth does (the hook library's plain server has none).
  return *body + (impl_->auth->enabled() ? impl_->auth->failure_metrics() : "");
}

std::optional<std::string> LocalContent::metrics() {
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    collectables = collectables_;
  }
  return render_text(collectables);
}

Result<void> LocalContent::ready() {
  if (ready_.load()) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  return Error{not_ready_reason_};
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

}  // namespace dwcp
