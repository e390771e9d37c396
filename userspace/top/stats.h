// The arithmetic of `top`, in one place: counter rates, histogram quantiles over a window, and
// the history behind the sparklines. Everything else only formats what these return.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace dwcp::top {

// Increase of a counter between two readings. A counter that went down was reset (the agent or
// its target restarted) and has counted `after` since, as Prometheus' increase() assumes.
double counter_increase(double before, double after);

// Per-second rate of a counter over `seconds`; NaN when the interval is not positive.
double counter_rate(double before, double after, double seconds);

// One bucket of a cumulative histogram: observations <= le.
struct Bucket {
  double le = 0;
  double count = 0;
};

// The buckets of the observations made between two readings of the same histogram (matched by
// `le`; a bucket absent before counts from 0). When the +Inf count went down the histogram was
// reset and `after` is returned as it is.
std::vector<Bucket> bucket_increase(const std::vector<Bucket>& before, const std::vector<Bucket>& after);

// The q-quantile (0..1) of a cumulative histogram, computed as Prometheus' histogram_quantile():
// linear interpolation inside the bucket holding the rank, the first bucket starting at 0, the
// upper bound of the highest finite bucket when the rank falls in +Inf. NaN without
// observations or without a +Inf bucket.
double histogram_quantile(double q, std::vector<Bucket> buckets);

// The last `capacity` values of a series (one per refresh), for a sparkline.
class History {
 public:
  explicit History(std::size_t capacity) : capacity_(capacity) {}
  void push(double value);
  const std::deque<double>& values() const { return values_; }

 private:
  std::size_t capacity_;
  std::deque<double> values_;
};

// The last `width` values as a sparkline scaled from 0 to their maximum (NaN: a blank). Eight
// levels of UTF-8 block characters, or ASCII when the terminal cannot show UTF-8. Left-padded
// with blanks to `width` cells.
std::string sparkline(const std::deque<double>& values, std::size_t width, bool utf8);

}  // namespace dwcp::top
