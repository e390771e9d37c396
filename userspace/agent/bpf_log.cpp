#include "agent/bpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string_view>

#include "log/log.h"

namespace dwcp::agent {
namespace {

std::atomic<bool> g_verbose{false};

// libbpf prints warnings for things we handle ourselves (a missing tracepoint we switch off);
// keep it quiet unless --verbose, but never hide its errors.
int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if ((level == LIBBPF_DEBUG || level == LIBBPF_INFO) && !g_verbose) return 0;
  // One log: libbpf's lines go through our logger (levels, timestamps, escaping), one per call.
  char text[1024];
  const int n = std::vsnprintf(text, sizeof(text), format, args);
  std::string_view message(text, n < 0 ? 0 : std::min<std::size_t>(n, sizeof(text) - 1));
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  const log::Level ours = level == LIBBPF_WARN   ? log::Level::kWarn
                          : level == LIBBPF_INFO ? log::Level::kInfo
                                                 : log::Level::kDebug;
  log::write(ours, message, {{"component", "libbpf"}});
  return n;
}

}  // namespace

void route_libbpf_log(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(libbpf_log);
}

}  // namespace dwcp::agent
