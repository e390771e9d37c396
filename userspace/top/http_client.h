// A small HTTP/1.1 client for one thing: GET the agent's /metrics. Plain sockets (TLS through
// OpenSSL when the build has it), one connection per request (Connection: close), a deadline for
// the whole exchange, and a bound on what it reads (the body comes from the network).
#pragma once

#include <cstddef>
#include <string>

#include "dwcp_observer/result.h"

namespace dwcp::top {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  std::string port;
  std::string path;  // with the query, "/metrics" when the URL has none
  std::string user;  // from user:password@ (percent-decoded)
  std::string password;
};

// http://[user:password@]host[:port][/path]; "host:port" alone means http://host:port/metrics.
Result<Url> parse_url(const std::string& text);

constexpr std::size_t kMaxResponseBytes = 64u << 20;

struct FetchOptions {
  int timeout_ms = 2000;
  // https only: trust this CA file instead of the system's store; present a client certificate
  // (the agent's web config may require one); or skip verifying the server (not for production).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure = false;
};

// Whether this build can fetch https:// URLs (OpenSSL found at build time).
bool tls_supported();

// The body of a 200 response to GET url (basic auth when the URL carries a user), within the
// timeout. Other statuses are errors that say what to do (401: credentials).
Result<std::string> fetch(const Url& url, const FetchOptions& options);

// The body of a raw HTTP/1.x response (Content-Length, chunked, or up to the close), or an error
// naming `where` for statuses other than 200. Exposed for the tests and the fuzzer.
Result<std::string> parse_response(const std::string& response, const std::string& where);

std::string base64(const std::string& bytes);

}  // namespace dwcp::top
