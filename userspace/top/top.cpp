#include "top/top.h"

#include "dwcp_observer/version.h"

#include <langinfo.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "top/exposition.h"
#include "top/http_client.h"
#include "top/render.h"
#include "top/stats.h"
#include "top/terminal.h"
#include "top/view.h"

namespace dwcp::top {

namespace {

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<Scrape> scrape(const Url& url, const FetchOptions& options) {
  Scrape s;
  s.time = monotonic_seconds();
  auto body = fetch(url, options);
  if (!body) return Error{body.error()};
  auto samples = parse_exposition(*body);
  if (!samples) return Error{"cannot parse " + url.path + ": " + samples.error()};
  s.samples = std::move(*samples);
  return s;
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// How long process `pid` of this host has run ("" when unknown): for a local agent that does
// not export its own start time.
std::string process_uptime(const std::string& pid) {
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "";
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return "";
  std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return "";
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  // Field 22 (starttime) is the 20th after the command name.
  for (int i = 0; i < 20 && fields >> field; ++i) {
  }
  double start_ticks = std::atof(field.c_str());
  std::ifstream up("/proc/uptime");
  double uptime = 0;
  if (!(up >> uptime) || start_ticks <= 0) return "";
  return format_duration(uptime - start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

// The user and password for `url`, from one line user:password.
Result<void> read_auth_file(const std::string& path, Url* url) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.find(':') == std::string::npos)
    return Error{"cannot read --basic-auth-file " + path + ": expected one line `user:password`"};
  url->user = line.substr(0, line.find(':'));
  url->password = line.substr(line.find(':') + 1);
  return {};
}

struct Settings {
  Url url;
  std::string shown_url;  // without the password
  double interval = 1;
  double window = 5;
  SortKey sort = SortKey::kActivity;
  std::string target;
  FetchOptions fetch;
};

RenderOptions render_options(const Settings& s, const View& view) {
  RenderOptions o;
  o.url = s.shown_url;
  o.target = s.target;
  o.sort = s.sort;
  o.interval_seconds = s.interval;
  o.now_unix = unix_seconds();
  if (std::isnan(view.agent_start_time) && loopback(s.url.host)) {
    std::string pid;
    for (const auto& t : view.targets)
      if (t.name == s.target || (s.target.empty() && view.targets.size() == 1)) pid = t.pid;
    o.target_uptime = process_uptime(pid);
  }
  return o;
}

// Not a terminal (a pipe, a file, a script): two scrapes `interval` apart, one plain snapshot.
int snapshot(const Settings& s) {
  auto first = scrape(s.url, s.fetch);
  if (!first) {
    std::fprintf(stderr, "dwcp-observer top: %s\n", first.error().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(s.interval));
  auto second = scrape(s.url, s.fetch);
  if (!second) {
    std::fprintf(stderr, "dwcp-observer top: %s\n", second.error().c_str());
    return 1;
  }
  View view = build_view(&*first, *second, s.target, s.sort);
  RenderOptions o = render_options(s, view);
  const char* columns = std::getenv("COLUMNS");
  o.width = columns && std::atoi(columns) >= 40 ? static_cast<std::size_t>(std::atoi(columns)) : 100;
  o.all_rows = true;
  o.interactive = false;
  o.utf8 = false;
  for (const auto& line : render(view, o, Sparklines{})) std::printf("%s\n", line.text.c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int live(const Settings& initial, bool colour, bool utf8) {
  Settings s = initial;
  auto opened = Terminal::open();
  if (!opened) {
    std::fprintf(stderr, "dwcp-observer top: %s\n", opened.error().c_str());
    return 1;
  }
  Terminal& term = **opened;
  std::deque<Scrape> scrapes;  // within the window, oldest first
  const std::size_t spark_points = static_cast<std::size_t>(std::ceil(60 / s.interval));
  // Sparkline histories for all targets ("") and for each one, so `t` shows the selected one's.
  std::map<std::string, History> throughput, overhead;
  auto history = [&](std::map<std::string, History>& m, const std::string& key) -> History& {
    return m.try_emplace(key, spark_points).first->second;
  };
  std::string status = "connecting...";
  double next_scrape = monotonic_seconds();

  for (;;) {
    double now = monotonic_seconds();
    if (now >= next_scrape) {
      next_scrape = now + s.interval;
      auto got = scrape(s.url, s.fetch);
      if (got) {
        status.clear();
        scrapes.push_back(std::move(*got));
        while (scrapes.size() > 2 && scrapes.back().time - scrapes[1].time >= s.window - s.interval / 2)
          scrapes.pop_front();
        if (scrapes.size() >= 2) {
          // The sparklines move with every refresh: rates over the last interval.
          const Scrape& prev = scrapes[scrapes.size() - 2];
          View all = build_view(&prev, scrapes.back(), "", s.sort);
          std::vector<std::string> keys{""};
          for (const auto& t : all.targets) keys.push_back(t.name);
          for (const auto& key : keys) {
            View last = key.empty() ? all : build_view(&prev, scrapes.back(), key, s.sort);
            history(throughput, key).push(last.send_bps + last.recv_bps);
            history(overhead, key).push(last.overhead_ratio);
          }
        }
      } else {
        status = got.error();
        for (auto& [key, h] : throughput) h.push(std::nan(""));
        for (auto& [key, h] : overhead) h.push(std::nan(""));
      }
    }
    if (!scrapes.empty()) {
      const Scrape* before = scrapes.size() >= 2 ? &scrapes.front() : nullptr;
      View view = build_view(before, scrapes.back(), s.target, s.sort);
      RenderOptions o = render_options(s, view);
      o.width = term.width();
      o.height = term.height();
      o.utf8 = utf8;
      o.status = status;
      term.draw(
          render(view, o, Sparklines{&history(throughput, s.target).values(), &history(overhead, s.target).values()}),
          colour);
    } else {
      term.draw({{"dwcp-observer top  " + s.shown_url, Style::kTitle}, {status, Style::kWarning}, {"q quits"}}, colour);
    }

    int wait_ms = static_cast<int>(std::max(0.0, (next_scrape - monotonic_seconds()) * 1000));
    int key = term.read_key(wait_ms);
    if (key == Terminal::kQuit || key == 'q' || key == 'Q' || key == 3) return 0;
    if (key == 's') s.sort = next_sort_key(s.sort);
    if (key == 'S') s.sort = next_sort_key(next_sort_key(next_sort_key(next_sort_key(s.sort))));
    if (key == 't' && !scrapes.empty()) {
      // All targets, then each in turn.
      View view = build_view(nullptr, scrapes.back(), "", s.sort);
      std::vector<std::string> names{""};
      for (const auto& t : view.targets) names.push_back(t.name);
      std::size_t i = 0;
      while (i < names.size() && names[i] != s.target) ++i;
      s.target = names[(i + 1) % names.size()];
    }
  }
}

}  // namespace

int top_main(int argc, char** argv, const std::string& default_listen) {
  CLI::App app{
      "dwcp-observer top: a live view of an agent's /metrics (q quits, s sorts streams, t picks a target). "
      "When stdout is not a terminal, prints one snapshot (two scrapes --interval apart) and exits."};
  app.name("dwcp-observer top");
  std::string url_text = "http://" + default_listen + "/metrics";
  std::string auth_file, sort_name = "activity";
  Settings s;
  app.add_option("url", url_text, "the agent's metrics URL (http://[user:password@]host:port/metrics)")
      ->capture_default_str();
  app.add_option("--interval", s.interval, "seconds between scrapes")
      ->capture_default_str()
      ->check(CLI::Range(0.2, 60.0));
  app.add_option("--window", s.window, "seconds over which rates and latency quantiles are computed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  app.add_option("--basic-auth-file", auth_file, "file with one line user:password for the agent's basic auth");
  app.set_version_flag("--version",
                       std::string("dwcp-observer top ") + DWCP_OBSERVER_VERSION + " (" + DWCP_OBSERVER_REVISION + ")");
  app.add_option("--sort", sort_name,
                 "stream order: activity (send + receive, busiest first), stream, send, recv or share")
      ->capture_default_str()
      ->check(CLI::IsMember({"activity", "stream", "send", "recv", "share"}));
  app.add_option("--ca-file", s.fetch.ca_file,
                 "https: CA certificate(s) to verify the agent with (default: the system's)");
  app.add_option("--cert-file", s.fetch.cert_file, "https: client certificate, when the agent requires one");
  app.add_option("--key-file", s.fetch.key_file, "https: the client certificate's key (default: --cert-file)");
  app.add_flag("--insecure", s.fetch.insecure, "https: do not verify the agent's certificate");
  app.add_option("--target", s.target, "show one target (the `target` label of dwcp_observer_target_up)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  while (s.sort != SortKey::kShare && sort_name != sort_key_name(s.sort)) s.sort = next_sort_key(s.sort);

  auto url = parse_url(url_text);
  if (!url) {
    std::fprintf(stderr, "dwcp-observer top: %s\n", url.error().c_str());
    return 2;
  }
  s.url = *url;
  if (!auth_file.empty()) {
    if (Result<void> read = read_auth_file(auth_file, &s.url); !read) {
      std::fprintf(stderr, "dwcp-observer top: %s\n", read.error().c_str());
      return 2;
    }
  }
  s.shown_url = s.url.scheme + "://" +
                (s.url.host.find(':') != std::string::npos ? "[" + s.url.host + "]" : s.url.host) + ":" + s.url.port +
                s.url.path;
  s.fetch.timeout_ms = static_cast<int>(std::clamp(s.interval * 2000, 1000.0, 10000.0));

  if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) return snapshot(s);
  const char* no_colour = std::getenv("NO_COLOR");
  bool colour = !(no_colour && *no_colour);
  std::setlocale(LC_CTYPE, "");
  bool utf8 = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  return live(s, colour, utf8);
}

}  // namespace dwcp::top
