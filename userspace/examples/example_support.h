// What every example does at its end: scrape its own /metrics over HTTP and check that the
// series it produced are there. Not part of the library; kept tiny on purpose.
#pragma once

#include "dwcp_observer/hooks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>

namespace example {

// GET http://127.0.0.1:<port><path>; returns "" when nothing answers. `status` gets the code.
inline std::string http_get(int port, const std::string& path, int* status = nullptr,
                            const std::string& extra_headers = "") {
  if (status != nullptr) *status = 0;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\n" + extra_headers + "\r\n";
  (void)::send(fd, request.data(), request.size(), 0);
  std::string raw;
  char buffer[65536];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  ::close(fd);
  const std::size_t body = raw.find("\r\n\r\n");
  if (raw.size() < 12 || body == std::string::npos) return "";
  if (status != nullptr) *status = std::stoi(raw.substr(9, 3));
  return raw.substr(body + 4);
}

// The /metrics page of this process (the library's own registry when no server runs).
inline std::string scrape() {
  const int port = dwcp::MetricsPort();
  return port > 0 ? http_get(port, "/metrics") : dwcp::MetricsText();
}

// Counts failures; prints each check so that a failing example says what is missing.
class Checker {
 public:
  // Expects the line `series value` (value compared as text after number formatting).
  void series(const std::string& text, const std::string& series, double value) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.compare(0, series.size() + 1, series + " ") == 0) {
        const double found = std::stod(line.substr(series.size() + 1));
        check(found == value, series + " = " + std::to_string(value) + " (found " + std::to_string(found) + ")");
        return;
      }
    }
    check(false, series + " present");
  }
  void check(bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures_;
  }
  int exit_code() const { return failures_ == 0 ? 0 : 1; }

 private:
  int failures_ = 0;
};

}  // namespace example
