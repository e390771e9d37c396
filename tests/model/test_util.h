// Small helpers of the model, HTTP and hook tests: find a series in collected families, fetch
// a URL over a raw loopback socket.
#pragma once

#include <prometheus/metric_family.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dwcp::testing {

using LabelMap = std::map<std::string, std::string>;

inline bool has_labels(const prometheus::ClientMetric& metric, const LabelMap& wanted) {
  std::size_t matched = 0;
  for (const auto& label : metric.label) {
    auto it = wanted.find(label.name);
    if (it != wanted.end()) {
      if (it->second != label.value) return false;
      ++matched;
    }
  }
  return matched == wanted.size();
}

inline const prometheus::MetricFamily* find_family(const std::vector<prometheus::MetricFamily>& families,
                                                   const std::string& name) {
  for (const auto& family : families)
    if (family.name == name) return &family;
  return nullptr;
}

inline const prometheus::ClientMetric* find_metric(const std::vector<prometheus::MetricFamily>& families,
                                                   const std::string& name, const LabelMap& labels) {
  const prometheus::MetricFamily* family = find_family(families, name);
  if (family == nullptr) return nullptr;
  for (const auto& metric : family->metric)
    if (has_labels(metric, labels)) return &metric;
  return nullptr;
}

// The value of a counter or gauge series, or nullopt when absent.
inline std::optional<double> value_of(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                                      const LabelMap& labels = {}) {
  const prometheus::MetricFamily* family = find_family(families, name);
  const prometheus::ClientMetric* metric = find_metric(families, name, labels);
  if (family == nullptr || metric == nullptr) return std::nullopt;
  return family->type == prometheus::MetricType::Counter ? metric->counter.value : metric->gauge.value;
}

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// One HTTP/1.0 request to 127.0.0.1:port over a plain socket (no client library needed).
inline HttpResponse http_get(int port, const std::string& path, const std::string& extra_headers = "",
                             const std::string& method = "GET") {
  HttpResponse response;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return response;
  }
  const std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
  if (::send(fd, request.data(), request.size(), 0) < 0) {
    ::close(fd);
    return response;
  }
  std::string raw;
  char buffer[65536];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  ::close(fd);
  const std::size_t end_of_headers = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end_of_headers == std::string::npos) return response;
  response.status = std::stoi(raw.substr(9, 3));
  response.headers = raw.substr(0, end_of_headers);
  response.body = raw.substr(end_of_headers + 4);
  return response;
}

}  // namespace dwcp::testing
