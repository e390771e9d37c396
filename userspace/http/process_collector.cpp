#include "http/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace dwcp::http {
namespace {

prometheus::MetricFamily gauge(const char* name, const char* help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter)
    metric.counter.value = value;
  else
    metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

// Fields of /proc/self/stat after the comm: the comm is between the first '(' and the LAST ')'
// (a comm may itself hold ')' or spaces).
bool read_stat(unsigned long long* utime, unsigned long long* stime, unsigned long long* start_ticks, long* rss_pages) {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  // field 3 (state) is the first after the comm; utime=14, stime=15, starttime=22, rss=24.
  for (int index = 3; index <= 24 && fields >> field; ++index) {
    if (index == 14) *utime = std::stoull(field);
    if (index == 15) *stime = std::stoull(field);
    if (index == 22) *start_ticks = std::stoull(field);
    if (index == 24) *rss_pages = std::stol(field);
  }
  return true;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

double open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (const dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  ::closedir(dir);
  return count - 1;  // the directory's own fd
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  unsigned long long utime = 0, stime = 0, start_ticks = 0;
  long rss_pages = 0;
  if (!read_stat(&utime, &stime, &start_ticks, &rss_pages)) return {};
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  std::vector<prometheus::MetricFamily> out;
  out.push_back(gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                      static_cast<double>(utime + stime) / ticks, prometheus::MetricType::Counter));
  out.push_back(gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss_pages * page));
  out.push_back(gauge("process_open_fds", "Number of open file descriptors.", open_fds()));
  out.push_back(gauge("process_max_fds", "Maximum number of open file descriptors.",
                      files.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(files.rlim_cur)));
  out.push_back(gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                      boot_time_seconds() + static_cast<double>(start_ticks) / ticks));
  return out;
}

}  // namespace dwcp::http
