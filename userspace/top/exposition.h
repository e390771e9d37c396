// A parser for the Prometheus text exposition format (0.0.4), as the agent serves it on /metrics.
// The body comes from the network, so every size is bounded and a malformed line fails the whole
// parse with its line number (as a Prometheus scrape fails).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dwcp_observer/result.h"

namespace dwcp::top {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  Labels labels;  // in exposition order
  double value = 0;

  // Value of label `key`, or "" when the sample has no such label.
  std::string_view label(std::string_view key) const;
};

constexpr std::size_t kMaxSamples = 500000;
constexpr std::size_t kMaxLabelsPerSample = 64;
constexpr std::size_t kMaxLineBytes = 64 * 1024;

// Samples in the order of the text; comments (# HELP, # TYPE) and blank lines are skipped,
// timestamps are ignored. Values: decimal, NaN, +Inf, -Inf.
Result<std::vector<Sample>> parse_exposition(std::string_view text);

}  // namespace dwcp::top
