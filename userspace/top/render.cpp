#include "top/render.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "top/stats.h"

namespace dwcp::top {

namespace {

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

std::string format_percent(double ratio, int decimals = 1) {
  if (std::isnan(ratio)) return "-";
  return printf_string("%.*f%%", decimals, ratio * 100);
}

std::string format_count(double n) {
  if (std::isnan(n)) return "-";
  if (n < 100000) return printf_string("%.0f", n);
  if (n < 1e8) return printf_string("%.0fk", n / 1e3);
  return printf_string("%.0fM", n / 1e6);
}

// Cells a UTF-8 string takes (every character here is one cell wide).
std::size_t cells(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The first `width` cells of s.
std::string fit(const std::string& s, std::size_t width) {
  std::size_t n = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (n == width) break;
      ++n;
    }
  }
  return s.substr(0, i);
}

std::string pad(const std::string& s, std::size_t width) {
  std::size_t n = cells(s);
  return n >= width ? s : s + std::string(width - n, ' ');
}

std::string lpad(const std::string& s, std::size_t width) {
  std::size_t n = cells(s);
  return n >= width ? s : std::string(width - n, ' ') + s;
}

// Columns of the stream table.
std::string table_row(const std::string& name, const std::string& send, const std::string& recv,
                      const std::string& share, const std::string& errors, const std::string& retrans,
                      const std::string& srtt) {
  return pad(fit(name, 22), 22) + lpad(send, 10) + lpad(recv, 10) + lpad(share, 8) + lpad(errors, 8) +
         lpad(retrans, 9) + lpad(srtt, 10);
}

// A quantile that fell in the lowest bucket is only known to be below its bound.
std::string format_quantile(double seconds, double lowest_bound) {
  if (!std::isnan(seconds) && seconds < lowest_bound) return "<" + format_seconds(lowest_bound);
  return format_seconds(seconds);
}

std::string trim_right(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

std::string format_mbps(double bytes_per_second) {
  if (std::isnan(bytes_per_second)) return "-";
  return printf_string("%.2f", bytes_per_second / 1e6);
}

std::string format_seconds(double s) {
  if (std::isnan(s)) return "-";
  if (s < 1e-3) return printf_string("%.0fus", s * 1e6);
  if (s < 1) return printf_string("%.2fms", s * 1e3);
  return printf_string("%.2fs", s);
}

std::string format_duration(double s) {
  if (std::isnan(s) || s < 0) return "-";
  long t = static_cast<long>(s);
  if (t >= 86400) return printf_string("%ldd%02ldh", t / 86400, t % 86400 / 3600);
  if (t >= 3600) return printf_string("%ldh%02ldm", t / 3600, t % 3600 / 60);
  if (t >= 60) return printf_string("%ldm%02lds", t / 60, t % 60);
  return printf_string("%lds", t);
}

std::vector<Line> render(const View& v, const RenderOptions& o, const Sparklines& sparks) {
  std::vector<Line> top, streams, bottom;
  const std::size_t width = std::max<std::size_t>(o.width, 40);

  // Header.
  top.push_back(
      {"dwcp-observer top  " + o.url + printf_string("  every %gs", o.interval_seconds) +
           (v.has_rates ? printf_string(", rates over %.1fs", v.window_seconds) : ", rates after the next scrape"),
       Style::kTitle});
  std::string who;
  int shown = 0;
  for (const auto& t : v.targets) {
    if (!o.target.empty() && t.name != o.target) continue;
    if (shown++ == 2) {
      who += " ...";
      break;
    }
    // After a failed scrape nothing is known of the targets: not "up".
    who += (who.empty() ? "" : ", ") + t.name + " pid " + t.pid + (!o.status.empty() ? " ?" : t.up ? " up" : " DOWN");
  }
  if (v.targets.empty()) who = "no target";
  std::string targets_word =
      v.targets.size() > 1 && o.target.empty() ? printf_string("%zu targets: ", v.targets.size()) : "target ";
  std::string uptime;
  if (!std::isnan(v.agent_start_time) && o.now_unix > 0)
    uptime = "  agent up " + format_duration(o.now_unix - v.agent_start_time);
  else if (!o.target_uptime.empty())
    uptime = "  target up " + o.target_uptime;
  top.push_back({targets_word + who + uptime + "  DWCP " + (v.dwcp_version.empty() ? "?" : v.dwcp_version) +
                 "  observer " + (v.observer_version.empty() ? "?" : v.observer_version)});
  std::string probes = printf_string("probes %.0f attached, %d demoted",
                                     std::isnan(v.probes_attached) ? 0 : v.probes_attached, v.probes_demoted);
  std::string mechanism;
  for (const auto& m : v.kernel_mechanisms) mechanism += (mechanism.empty() ? "  kernel " : ",") + m;
  std::string lost = "  lost " + format_count(v.events_lost) +
                     (std::isnan(v.events_lost_per_second) ? "" : printf_string(" (%.0f/s)", v.events_lost_per_second));
  top.push_back({probes + "  overhead " + format_percent(v.overhead_ratio, 2) + lost + mechanism,
                 v.events_lost > 0 || v.probes_demoted > 0 ? Style::kWarning : Style::kPlain});
  // The last scrape failed: the agent is down or unreachable; what follows is the last good one.
  if (!o.status.empty())
    top.insert(top.begin() + 1,
               {"AGENT DOWN: " + o.status + " (figures below: the last good scrape)", Style::kWarning});
  const std::size_t fixed_top = top.size();  // the lines a small terminal keeps

  // Sparklines (live view only): a label of 12 cells, the line, the value.
  if (sparks.throughput) {
    std::size_t spark_width = width > 30 ? width - 30 : 10;
    top.push_back({pad("throughput", 12) + sparkline(*sparks.throughput, spark_width, o.utf8) + "  " +
                   lpad(format_mbps(v.send_bps + v.recv_bps), 8) + " MB/s"});
    if (sparks.overhead)
      top.push_back({pad("overhead", 12) + sparkline(*sparks.overhead, spark_width, o.utf8) + "  " +
                     lpad(format_percent(v.overhead_ratio, 2), 8)});
  } else {
    top.push_back({"throughput " + format_mbps(v.send_bps + v.recv_bps) + " MB/s (send + receive)"});
  }

  // Streams.
  std::string sort_mark = std::string("sorted by ") + sort_key_name(o.sort);
  const Line table_header{table_row("STREAM", "SEND MB/s", "RECV MB/s", "SHARE", "ERRORS", "RETRANS", "SRTT"),
                          Style::kHeading};
  std::size_t stream_lines = 0;
  for (const auto& g : v.groups) {
    streams.push_back({table_row(g.name + printf_string(" (%zu)", g.streams.size()), format_mbps(g.send_bps),
                                 format_mbps(g.recv_bps), v.has_rates ? "100%" : "-", format_count(g.errors),
                                 format_count(g.retransmits), format_seconds(g.srtt_seconds)),
                       Style::kGroup});
    for (const auto& s : g.streams) {
      streams.push_back({table_row("  " + s.id, format_mbps(s.send_bps), format_mbps(s.recv_bps),
                                   format_percent(s.share), "", "", "")});
      ++stream_lines;
    }
  }
  if (v.groups.empty()) streams.push_back({"  no AMST stream has carried data yet"});

  // Latency, HDE, migrations and federation.
  bottom.push_back({pad("AMST LATENCY", 22) + lpad("p50", 10) + lpad("p99", 10) + lpad("ops/s", 8), Style::kHeading});
  for (const auto& row : v.latency)
    bottom.push_back({pad("  " + row.operation, 22) + lpad(format_quantile(row.p50, row.lowest_bound), 10) +
                      lpad(format_quantile(row.p99, row.lowest_bound), 10) +
                      lpad(std::isnan(row.ops_per_second) ? "-" : printf_string("%.1f", row.ops_per_second), 8)});
  if (v.hde.present) {
    bottom.push_back(
        {"HDE  ratio " + (std::isnan(v.hde.ratio) ? std::string("-") : printf_string("%.2fx", v.hde.ratio)) + "  in " +
         format_mbps(v.hde.in_bps) + " MB/s  out " + format_mbps(v.hde.out_bps) + " MB/s  delta hit " +
         (std::isnan(v.hde.delta_hit_percent) ? std::string("-") : printf_string("%.1f%%", v.hde.delta_hit_percent)) +
         "  baselines " + format_count(v.hde.baselines)});
  } else {
    bottom.push_back({"HDE  no compression seen yet"});
  }
  auto durations_line = [&](const char* what, const Durations& d) {
    return pad(what, 12) + "done " + format_count(d.done) +
           (v.has_rates ? printf_string(" (+%.0f in %.0fs)", d.in_window, v.window_seconds) : "") + "  p95 " +
           format_quantile(d.p95, d.lowest_bound) + (d.p95_since_start ? " (since start)" : "");
  };
  bottom.push_back({durations_line("migrations", v.migrations)});
  bottom.push_back({durations_line("federation", v.federation)});
  std::string footer = o.interactive ? "q quit  s sort (" + std::string(sort_key_name(o.sort)) + ")  t target (" +
                                           (o.target.empty() ? "all" : o.target) + ")"
                                     : sort_mark;
  if (!o.status.empty()) footer += "  " + o.status;
  bottom.push_back({footer, o.status.empty() ? Style::kHeading : Style::kWarning});

  // A small terminal (50x12): the sparklines and the lines under the table give way first, so
  // that the busiest streams stay visible; the footer (keys, status) stays.
  constexpr std::size_t kMinStreamLines = 4;
  if (!o.all_rows && o.height < top.size() + bottom.size() + kMinStreamLines) {
    top.resize(fixed_top);
    top.push_back(table_header);
    bottom.erase(bottom.begin(), bottom.end() - 1);
  } else {
    top.push_back(table_header);
  }

  // Fit the height: the stream table gives way (with a line saying how many are hidden).
  std::vector<Line> out = top;
  std::size_t room = o.height > top.size() + bottom.size() ? o.height - top.size() - bottom.size() : 0;
  if (o.all_rows || streams.size() <= room) {
    out.insert(out.end(), streams.begin(), streams.end());
  } else if (room > 0) {
    out.insert(out.end(), streams.begin(), streams.begin() + static_cast<long>(room - 1));
    out.push_back({printf_string("  ... %zu more rows (%zu streams, %s; a taller terminal shows more)",
                                 streams.size() - (room - 1), stream_lines, sort_mark.c_str())});
  }
  out.insert(out.end(), bottom.begin(), bottom.end());
  if (!o.all_rows && out.size() > o.height) out.resize(o.height);
  for (auto& line : out) line.text = trim_right(fit(line.text, width));
  return out;
}

}  // namespace dwcp::top
