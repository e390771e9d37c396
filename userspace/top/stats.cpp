#include "top/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dwcp::top {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double counter_increase(double before, double after) {
  if (std::isnan(before)) return after;
  return after >= before ? after - before : after;
}

double counter_rate(double before, double after, double seconds) {
  if (!(seconds > 0)) return kNaN;
  return counter_increase(before, after) / seconds;
}

std::vector<Bucket> bucket_increase(const std::vector<Bucket>& before, const std::vector<Bucket>& after) {
  auto total = [](const std::vector<Bucket>& buckets) {
    for (const auto& b : buckets)
      if (std::isinf(b.le) && b.le > 0) return b.count;
    return 0.0;
  };
  if (total(after) < total(before)) return after;
  std::vector<Bucket> out;
  out.reserve(after.size());
  for (const auto& b : after) {
    double earlier = 0;
    for (const auto& p : before)
      if (p.le == b.le) earlier = p.count;
    out.push_back({b.le, std::max(0.0, b.count - earlier)});
  }
  return out;
}

double histogram_quantile(double q, std::vector<Bucket> buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::sort(buckets.begin(), buckets.end(), [](const Bucket& a, const Bucket& b) { return a.le < b.le; });
  if (buckets.size() < 2 || !(std::isinf(buckets.back().le) && buckets.back().le > 0)) return kNaN;
  // Counts are cumulative and must not go down; a scrape racing an observation can make them
  // do so, and Prometheus then takes the running maximum.
  for (std::size_t i = 1; i < buckets.size(); ++i) buckets[i].count = std::max(buckets[i].count, buckets[i - 1].count);
  double observations = buckets.back().count;
  if (!(observations > 0)) return kNaN;
  double rank = q * observations;
  std::size_t b = 0;
  while (b + 1 < buckets.size() && buckets[b].count < rank) ++b;
  if (b == buckets.size() - 1) return buckets[buckets.size() - 2].le;  // in +Inf
  if (b == 0 && buckets[0].le <= 0) return buckets[0].le;
  double start = b == 0 ? 0 : buckets[b - 1].le;
  double below = b == 0 ? 0 : buckets[b - 1].count;
  double in_bucket = buckets[b].count - below;
  if (in_bucket <= 0) return buckets[b].le;
  return start + (buckets[b].le - start) * ((rank - below) / in_bucket);
}

void History::push(double value) {
  values_.push_back(value);
  while (values_.size() > capacity_) values_.pop_front();
}

std::string sparkline(const std::deque<double>& values, std::size_t width, bool utf8) {
  static const char* const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
  static const char kAscii[] = "_.-:=+*#";
  std::size_t n = std::min(values.size(), width);
  double max = 0;
  for (std::size_t i = values.size() - n; i < values.size(); ++i)
    if (std::isfinite(values[i])) max = std::max(max, values[i]);
  std::string out(width - n, ' ');
  for (std::size_t i = values.size() - n; i < values.size(); ++i) {
    double v = values[i];
    if (!std::isfinite(v) || v < 0) {
      out += ' ';
      continue;
    }
    // 0 is the lowest level, the maximum the highest; any activity shows at least level 1.
    int level = max > 0 ? static_cast<int>(std::ceil(v / max * 7)) : 0;
    level = std::clamp(level, 0, 7);
    if (utf8) {
      out += kBlocks[level];
    } else {
      out += kAscii[level];
    }
  }
  return out;
}

}  // namespace dwcp::top
