// The screen of `top` as lines of text, laid out for a width and height: a pure function of
// the view, so the layout is tested without a terminal. Styles are applied per line by the
// caller (and not at all without colour).
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "top/view.h"

namespace dwcp::top {

enum class Style { kPlain, kTitle, kHeading, kGroup, kWarning };

struct Line {
  std::string text;
  Style style = Style::kPlain;
};

struct RenderOptions {
  std::size_t width = 80;
  std::size_t height = 24;
  bool all_rows = false;    // snapshot mode: every stream, whatever the height
  bool utf8 = true;         // sparklines with block characters
  bool interactive = true;  // key help in the footer
  std::string url;
  std::string target;  // selected target, "" for all
  SortKey sort = SortKey::kStream;
  double interval_seconds = 1;
  std::string status;         // e.g. the last scrape error
  double now_unix = 0;        // for the agent's uptime
  std::string target_uptime;  // from /proc when the agent runs on this host and says no uptime
};

struct Sparklines {
  const std::deque<double>* throughput = nullptr;  // bytes/s, one value per refresh
  const std::deque<double>* overhead = nullptr;    // ratio
};

std::vector<Line> render(const View& view, const RenderOptions& options, const Sparklines& sparks);

// Number formats shared with the tests: MB/s is 10^6 bytes per second.
std::string format_mbps(double bytes_per_second);
std::string format_seconds(double seconds);   // 85us, 1.23ms, 2.05s; "-" for NaN
std::string format_duration(double seconds);  // 3h02m, 2m03s, 45s

}  // namespace dwcp::top
