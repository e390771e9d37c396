#include "top/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace dwcp::top;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

TEST(Stats, CounterRateAndReset) {
  EXPECT_DOUBLE_EQ(counter_rate(1000, 3000, 2), 1000);
  // A counter that went down restarted from 0: it counted `after` since.
  EXPECT_DOUBLE_EQ(counter_increase(5000, 300), 300);
  EXPECT_DOUBLE_EQ(counter_rate(5000, 300, 3), 100);
  EXPECT_TRUE(std::isnan(counter_rate(1, 2, 0)));
  EXPECT_TRUE(std::isnan(counter_rate(1, 2, -1)));
}

TEST(Stats, QuantileInterpolatesInsideTheBucketAsPrometheusDoes) {
  // 10 observations: 4 <= 1, 4 in (1, 2], 2 in (2, 4].
  std::vector<Bucket> h{{1, 4}, {2, 8}, {4, 10}, {kInf, 10}};
  // Rank 5 is the first of bucket (1, 2]: 1 + (2 - 1) * (5 - 4) / 4.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, h), 1.25);
  // Rank 9.9 in (2, 4]: 2 + 2 * (9.9 - 8) / 2.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.99, h), 3.9);
  // First bucket starts at 0: rank 2 -> 0.5.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.2, h), 0.5);
  // Order of the input does not matter.
  std::vector<Bucket> shuffled{{kInf, 10}, {2, 8}, {4, 10}, {1, 4}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, shuffled), 1.25);
}

TEST(Stats, QuantileInInfBucketIsTheHighestFiniteBound) {
  std::vector<Bucket> h{{1, 1}, {2, 2}, {kInf, 10}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.9, h), 2);
}

TEST(Stats, QuantileWithoutObservationsOrInfIsNaN) {
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{1, 0}, {kInf, 0}})));
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{1, 3}, {2, 5}})));
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {})));
}

TEST(Stats, QuantileTakesTheRunningMaximumOfNonMonotonicCounts) {
  // A scrape racing observations: a lower bucket ahead of a higher one.
  std::vector<Bucket> h{{1, 6}, {2, 5}, {kInf, 10}};
  // Treated as {1: 6, 2: 6, +Inf: 10}: rank 5 in the first bucket.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, h), 5.0 / 6.0);
}

TEST(Stats, BucketIncreaseIsTheWindowsObservations) {
  std::vector<Bucket> before{{1, 4}, {2, 8}, {kInf, 10}};
  std::vector<Bucket> after{{1, 4}, {2, 18}, {kInf, 20}};
  auto window = bucket_increase(before, after);
  ASSERT_EQ(window.size(), 3u);
  EXPECT_DOUBLE_EQ(window[0].count, 0);
  EXPECT_DOUBLE_EQ(window[1].count, 10);
  EXPECT_DOUBLE_EQ(window[2].count, 10);
  // All 10 observations of the window are in (1, 2]: the median is 1.5, while the cumulative
  // histogram's median is lower.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, window), 1.5);
  EXPECT_LT(histogram_quantile(0.5, after), 1.5);
  // Reset (the +Inf count went down): the new histogram as it is.
  auto reset = bucket_increase(after, before);
  EXPECT_DOUBLE_EQ(reset[2].count, 10);
  // A histogram first seen in the window counts from 0.
  EXPECT_DOUBLE_EQ(bucket_increase({}, after)[2].count, 20);
}

TEST(Stats, HistoryKeepsTheLastValues) {
  History h(3);
  for (int i = 1; i <= 5; ++i) h.push(i);
  ASSERT_EQ(h.values().size(), 3u);
  EXPECT_EQ(h.values().front(), 3);
  EXPECT_EQ(h.values().back(), 5);
}

TEST(Stats, SparklineScalesToTheMaximumAndPads) {
  std::deque<double> v{0, 1, 2, 4, std::nan("")};
  EXPECT_EQ(sparkline(v, 8, false), "   _-=# ");
  EXPECT_EQ(sparkline(v, 3, false), "=# ");
  std::string utf8 = sparkline({0, 8}, 2, true);
  EXPECT_EQ(utf8, "\u2581\u2588");
  EXPECT_EQ(sparkline({}, 4, true), "    ");
}
