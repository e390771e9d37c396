#include "top/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "dwcp_observer/fd.h"

#ifdef DWCP_TOP_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

namespace dwcp::top {

namespace {

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (std::sscanf(s.substr(i + 1, 2).c_str(), "%2x", &v) == 1) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

Result<int> connect_to(const Url& url, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  if (rc != 0) return Error{"cannot resolve " + url.host + ": " + gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    Fd guard(fd);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        continue;
      }
      if (!wait_for(fd, POLLOUT, deadline)) {
        last_error = "timed out";
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) {
        last_error = std::strerror(so_error);
        continue;
      }
    }
    return guard.release();
  }
  return Error{"cannot connect to " + url.host + ":" + url.port + ": " + last_error +
               " (is the agent running and listening there?)"};
}

// Decodes a chunked body; nullopt when it is malformed.
std::optional<std::string> dechunk(const std::string& in) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    std::size_t size = 0;
    std::size_t digits = 0;
    for (std::size_t i = pos; i < eol && in[i] != ';'; ++i, ++digits) {
      char c = in[i];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0 || digits >= 8) return std::nullopt;
      size = size * 16 + static_cast<std::size_t>(d);
    }
    if (digits == 0) return std::nullopt;
    pos = eol + 2;
    if (size == 0) return out;
    if (size > in.size() - pos) return std::nullopt;
    out.append(in, pos, size);
    pos += size + 2;
    if (pos > in.size()) return std::nullopt;
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A byte stream to the agent with the exchange's deadline: a socket, or TLS over one.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual Result<std::size_t> write(const char* data, std::size_t size) = 0;  // bytes written (> 0)
  virtual Result<std::size_t> read(char* data, std::size_t size) = 0;         // 0: the server closed
};

class PlainStream : public Stream {
 public:
  PlainStream(int fd, Clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  int fd() const { return fd_.get(); }
  Clock::time_point deadline() const { return deadline_; }

  Result<std::size_t> write(const char* data, std::size_t size) override {
    for (;;) {
      ssize_t n = send(fd_.get(), data, size, MSG_NOSIGNAL);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        if (!wait_for(fd_.get(), POLLOUT, deadline_)) return Error{"timed out"};
        continue;
      }
      return Error{std::strerror(errno)};
    }
  }

  Result<std::size_t> read(char* data, std::size_t size) override {
    for (;;) {
      ssize_t n = recv(fd_.get(), data, size, 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!wait_for(fd_.get(), POLLIN, deadline_)) return Error{"timed out"};
        continue;
      }
      return Error{std::strerror(errno)};
    }
  }

 private:
  Fd fd_;
  Clock::time_point deadline_;
};

#ifdef DWCP_TOP_HAVE_OPENSSL
std::string openssl_error(const std::string& what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return what + ": " + text;
}

// TLS over a connected socket (non-blocking: every WANT_READ/WANT_WRITE waits on the socket
// until the deadline). The server's certificate is verified against the system's CAs or
// --ca-file, and its name or IP address against the URL's host.
class TlsStream : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(std::unique_ptr<PlainStream> socket, const std::string& host,
                                              const FetchOptions& options, Clock::time_point deadline) {
    std::unique_ptr<TlsStream> t(new TlsStream(std::move(socket)));
    t->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!t->ctx_) return Error{openssl_error("cannot create a TLS context")};
    SSL_CTX* ctx = t->ctx_.get();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Servers that close without close_notify still end the response (Connection: close).
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (!options.insecure) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      int ok = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                       : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
      if (ok != 1) return Error{openssl_error("cannot load the CA file " + options.ca_file)};
    }
    if (!options.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1)
        return Error{openssl_error("cannot load the client certificate " + options.cert_file)};
      const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
      if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
        return Error{openssl_error("cannot load the client key " + key)};
    }
    t->ssl_.reset(SSL_new(ctx));
    if (!t->ssl_) return Error{openssl_error("cannot create a TLS session")};
    SSL* ssl = t->ssl_.get();
    SSL_set_fd(ssl, t->socket_->fd());
    in6_addr ip6;
    in_addr ip4;
    bool is_ip = inet_pton(AF_INET, host.c_str(), &ip4) == 1 || inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, host.c_str());
      SSL_set1_host(ssl, host.c_str());
    }
    for (;;) {
      int rc = SSL_connect(ssl);
      if (rc == 1) break;
      auto waited = t->wait(rc, deadline);
      if (!waited) {
        long verify = SSL_get_verify_result(ssl);
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
          return Error{std::string("TLS: the agent's certificate was not accepted: ") +
                       X509_verify_cert_error_string(verify) + " (it is not issued for " + host +
                       ": use the name or address it names)"};
        if (verify != X509_V_OK)
          return Error{std::string("TLS: the agent's certificate was not accepted: ") +
                       X509_verify_cert_error_string(verify) + " (give --ca-file with the CA that signed it)"};
        return Error{"TLS handshake with " + host + " failed: " + waited.error()};
      }
    }
    return std::unique_ptr<Stream>(std::move(t));
  }

  Result<std::size_t> write(const char* data, std::size_t size) override {
    for (;;) {
      int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n > 0) return static_cast<std::size_t>(n);
      auto waited = wait(n, socket_->deadline());
      if (!waited) return Error{waited.error()};
    }
  }

  Result<std::size_t> read(char* data, std::size_t size) override {
    for (;;) {
      int n = SSL_read(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n > 0) return static_cast<std::size_t>(n);
      if (SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN) return std::size_t{0};
      auto waited = wait(n, socket_->deadline());
      if (!waited) return Error{waited.error()};
    }
  }

 private:
  explicit TlsStream(std::unique_ptr<PlainStream> socket) : socket_(std::move(socket)) {}

  // After an OpenSSL call returned rc: waits for the socket when it wants to read or write;
  // an error otherwise.
  Result<bool> wait(int rc, Clock::time_point deadline) {
    int error = SSL_get_error(ssl_.get(), rc);
    short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) return Error{openssl_error("TLS error " + std::to_string(error))};
    if (!wait_for(socket_->fd(), events, deadline)) return Error{"timed out"};
    return true;
  }

  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<PlainStream> socket_;  // outlives ssl_ (declared first, destroyed last)
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
};
#endif

}  // namespace

bool tls_supported() {
#ifdef DWCP_TOP_HAVE_OPENSSL
  return true;
#else
  return false;
#endif
}

std::string base64(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<Url> parse_url(const std::string& text) {
  Url url;
  std::string rest = text;
  std::size_t scheme_end = rest.find("://");
  if (scheme_end == std::string::npos) {
    url.scheme = "http";
  } else {
    url.scheme = lower(rest.substr(0, scheme_end));
    rest = rest.substr(scheme_end + 3);
  }
  if (url.scheme != "http" && url.scheme != "https")
    return Error{"unsupported URL scheme '" + url.scheme + "' in " + text + ": use http://host:port/metrics"};
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "/metrics" : rest.substr(slash);
  std::size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    url.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string::npos) url.password = percent_decode(userinfo.substr(colon + 1));
  }
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string::npos) return Error{"unterminated IPv6 address in " + text};
    url.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') return Error{"bad address in " + text};
    url.port = after.empty() ? "" : after.substr(1);
  } else {
    std::size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    url.port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  }
  if (url.host.empty()) return Error{"no host in URL " + text};
  if (url.port.empty()) url.port = url.scheme == "https" ? "443" : "80";
  for (char c : url.port)
    if (c < '0' || c > '9') return Error{"bad port '" + url.port + "' in " + text};
  if (url.path.empty()) url.path = "/metrics";
  return url;
}

Result<std::string> fetch(const Url& url, const FetchOptions& options) {
  auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  std::unique_ptr<Stream> stream;
  {
    auto connected = connect_to(url, deadline);
    if (!connected) return Error{connected.error()};
    auto plain = std::make_unique<PlainStream>(*connected, deadline);
    if (url.scheme == "https") {
#ifdef DWCP_TOP_HAVE_OPENSSL
      auto tls = TlsStream::open(std::move(plain), url.host, options, deadline);
      if (!tls) return Error{tls.error()};
      stream = std::move(*tls);
#else
      return Error{
          "this build of top has no TLS (OpenSSL was not found when it was built): read the agent over "
          "http on loopback, e.g. through ssh -L 9090:127.0.0.1:9090 HOST"};
#endif
    } else {
      stream = std::move(plain);
    }
  }

  std::string request = "GET " + url.path + " HTTP/1.1\r\nHost: " + host + ":" + url.port +
                        "\r\nUser-Agent: dwcp-observer-top\r\nAccept: text/plain\r\nConnection: close\r\n";
  if (!url.user.empty()) request += "Authorization: Basic " + base64(url.user + ":" + url.password) + "\r\n";
  request += "\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    auto n = stream->write(request.data() + sent, request.size() - sent);
    if (!n) return Error{"cannot send the request to " + host + ": " + n.error()};
    sent += *n;
  }

  std::string response;
  char buffer[65536];
  for (;;) {
    auto n = stream->read(buffer, sizeof buffer);
    if (!n) return Error{"cannot read " + url.path + " from " + host + ": " + n.error()};
    if (*n == 0) break;
    if (response.size() + *n > kMaxResponseBytes)
      return Error{"response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB"};
    response.append(buffer, *n);
  }

  return parse_response(response, host + url.path);
}

Result<std::string> parse_response(const std::string& response, const std::string& where) {
  std::size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return Error{"malformed HTTP response from " + where + " (no header end)"};
  std::string head = response.substr(0, header_end);
  std::string body = response.substr(header_end + 4);
  int status = 0;
  if (std::sscanf(head.c_str(), "HTTP/%*d.%*d %d", &status) != 1)
    return Error{"malformed HTTP status line from " + where};
  bool chunked = false;
  long long length = -1;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string field = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    std::string name = lower(field.substr(0, field.find(':')));
    std::string value = field.find(':') == std::string::npos ? "" : field.substr(field.find(':') + 1);
    if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
    if (name == "content-length") length = std::atoll(value.c_str());
    pos = next;
  }
  if (chunked) {
    std::optional<std::string> decoded = dechunk(body);
    if (!decoded) return Error{"malformed chunked body from " + where};
    body = std::move(*decoded);
  } else if (length >= 0) {
    if (static_cast<std::size_t>(length) > body.size()) return Error{"response from " + where + " cut short"};
    body.resize(static_cast<std::size_t>(length));
  }
  if (status == 401)
    return Error{
        "401 Unauthorized: the agent wants basic auth: give --basic-auth-file FILE (user:password) or "
        "http://user:password@host:port/metrics"};
  if (status != 200) {
    std::string first = body.substr(0, std::min<std::size_t>(body.find('\n'), 200));
    return Error{"HTTP " + std::to_string(status) + " from " + where + (first.empty() ? "" : ": " + first)};
  }
  return body;
}

}  // namespace dwcp::top
