#include "agent/overhead.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

using namespace dwcp::agent;

namespace {

// A function of this test binary for the uprobe tests. noinline + an asm barrier: every call in
// the loop below is a real call the probe sees.
extern "C" __attribute__((noinline)) int overhead_test_target(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

bool root() { return geteuid() == 0; }

// /proc/PID/stat of a process named "a b) (c" with utime 250 and stime 50 (fields 14, 15).
const char* kStatLine =
    "4242 (a b) (c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 200 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

}  // namespace

TEST(ProcStat, UtimePlusStimeInSeconds) {
  auto s = parse_proc_stat_cpu_seconds(kStatLine, 100);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(*s, 3.0);  // (250 + 50) / 100
}

TEST(ProcStat, CommWithSpacesAndParenthesesDoesNotShiftFields) {
  // Counting fields from the first ')' would read "(c)" as the state and everything after it
  // one field off: utime would be 50 and stime 0.
  auto s = parse_proc_stat_cpu_seconds(kStatLine, 1000);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(*s, 0.3);
}

TEST(ProcStat, MalformedLinesAreRefused) {
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("", 100));
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("4242 (x) S 1 2 3", 100));
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 2x0 50", 100));
  EXPECT_FALSE(parse_proc_stat_cpu_seconds(kStatLine, 0));
}

TEST(ProcStat, OwnProcessCpuTimeIsReadAndGrows) {
  std::string error;
  auto before = process_cpu_seconds(getpid(), &error);
  ASSERT_TRUE(before.has_value()) << error;
  // Burn CPU until the tick-granular counter moves (bounded, so a broken reader fails).
  volatile std::uint64_t sink = 0;
  std::optional<double> after;
  for (int i = 0; i < 400 && (!after || *after <= *before); ++i) {
    for (int j = 0; j < 1000000; ++j) sink = sink + j;
    after = process_cpu_seconds(getpid(), &error);
  }
  ASSERT_TRUE(after.has_value()) << error;
  EXPECT_GT(*after, *before);
}

TEST(ProcStat, MissingProcessSaysSo) {
  std::string error;
  EXPECT_FALSE(process_cpu_seconds(0x3fffffff, &error));
  EXPECT_NE(error.find("/proc/1073741823/stat"), std::string::npos) << error;
}

TEST(RunStats, MeanNanosecondsPerRunBetweenReadings) {
  EXPECT_DOUBLE_EQ(ns_per_run({1000, 10}, {3000, 20}), 200.0);
  EXPECT_DOUBLE_EQ(ns_per_run({1000, 10}, {1000, 10}), 0.0);  // did not run: no division by 0
  EXPECT_DOUBLE_EQ(ns_per_run({0, 0}, {0, 0}), 0.0);          // stats off
  EXPECT_DOUBLE_EQ(ns_per_run({5000, 10}, {100, 20}), 0.0);   // program replaced: no negative
}

// ---- budget ----------------------------------------------------------------------------------

TEST(ProbeBudget, WithinBudgetDemotesNothing) {
  ProbeBudget budget({/*max_share=*/0.05, /*min_target_cpu_seconds=*/0.0});
  // 1,000 hits x 5 us = 5 ms of 1 s of target CPU: 0.5 %.
  auto d = budget.evaluate({{"send_chunk", 1000}}, 4000, 1000, 1.0);
  EXPECT_NEAR(d.overhead_seconds, 0.005, 1e-12);
  EXPECT_NEAR(d.share, 0.005, 1e-12);
  EXPECT_TRUE(d.demote.empty());
  EXPECT_NEAR(d.share_after, d.share, 1e-12);
}

TEST(ProbeBudget, DemotesCostliestFirstUntilTheRestFits) {
  ProbeBudget budget({0.02, 0.0});
  // 5 us per hit, 1 s of target CPU. send_chunk 60 ms, receive_chunk 40 ms, send 1 ms.
  auto d = budget.evaluate({{"send", 200}, {"receive_chunk", 8000}, {"send_chunk", 12000}}, 4500, 500, 1.0);
  ASSERT_EQ(d.costs.size(), 3u);
  EXPECT_EQ(d.costs[0].probe, "send_chunk");
  EXPECT_EQ(d.costs[1].probe, "receive_chunk");
  EXPECT_EQ(d.costs[2].probe, "send");
  EXPECT_NEAR(d.overhead_seconds, 0.101, 1e-9);
  EXPECT_NEAR(d.share, 0.101, 1e-9);  // the overhead is inside the measured CPU time
  // Without send_chunk: 41 ms of (1 - 0.06) s = 4.4 % > 2 %; without receive_chunk as well:
  // 1 ms of 0.9 s = 0.11 %: fits, send stays.
  EXPECT_EQ(d.demote, (std::vector<std::string>{"send_chunk", "receive_chunk"}));
  EXPECT_NEAR(d.share_after, 0.001 / 0.9, 1e-9);
}

TEST(ProbeBudget, ZeroBudgetMeansNoPolicy) {
  ProbeBudget budget({0.0, 0.0});
  auto d = budget.evaluate({{"send_chunk", 1000000}}, 5000, 0, 1.0);
  EXPECT_GT(d.share, 0.5);
  EXPECT_TRUE(d.demote.empty());
}

TEST(ProbeBudget, NearlyIdleTargetIsJudgedAgainstTheFloor) {
  // 10 hits x 5 us = 50 us over an interval in which the target used 100 us of CPU: a 50 %
  // share on paper, but nothing worth demoting for. Against a 50 ms floor it is 0.1 %.
  ProbeBudget budget({0.02, 0.05});
  auto d = budget.evaluate({{"session_start", 10}}, 5000, 0, 0.0001);
  EXPECT_NEAR(d.share, 50e-6 / 0.05, 1e-9);
  EXPECT_TRUE(d.demote.empty());
  EXPECT_DOUBLE_EQ(d.target_cpu_seconds, 0.0001);  // reported as measured
}

TEST(ProbeBudget, ProbesWithoutHitsAreNeverDemoted) {
  ProbeBudget budget({0.001, 0.0});
  auto d = budget.evaluate({{"idle", 0}, {"hot", 100000}}, 5000, 0, 1.0);
  EXPECT_EQ(d.demote, std::vector<std::string>{"hot"});
  EXPECT_DOUBLE_EQ(d.share_after, 0.0);
}

TEST(ProbeBudget, EstimateAboveMeasuredCpuDemotesEverythingThatCosts) {
  // A calibration taken at a busier moment may estimate more than the target's CPU: the own
  // work is then 0 and the share 100 % until every costly probe is gone.
  ProbeBudget budget({0.02, 0.0});
  auto d = budget.evaluate({{"a", 1000}, {"b", 10}}, 5000, 0, 0.001);
  EXPECT_DOUBLE_EQ(d.share, 1.0);
  EXPECT_EQ(d.demote, (std::vector<std::string>{"a", "b"}));
}

TEST(ProbeBudget, EqualCostsDemoteInNameOrder) {
  ProbeBudget budget({0.001, 0.0});
  auto d = budget.evaluate({{"zeta", 1000}, {"alpha", 1000}}, 5000, 0, 1.0);
  ASSERT_FALSE(d.demote.empty());
  EXPECT_EQ(d.demote[0], "alpha");
}

// ---- own mappings -----------------------------------------------------------------------------

TEST(OwnFileOffset, PointsAtTheFunctionsBytesInTheFile) {
  std::string path, error;
  std::uint64_t offset = 0;
  ASSERT_TRUE(own_file_offset(reinterpret_cast<const void*>(&overhead_test_target), &path, &offset, &error)) << error;
  std::ifstream file(path, std::ios::binary);
  ASSERT_TRUE(file) << path;
  file.seekg(static_cast<std::streamoff>(offset));
  char on_disk[16] = {};
  ASSERT_TRUE(file.read(on_disk, sizeof on_disk));
  EXPECT_EQ(0, std::memcmp(on_disk, reinterpret_cast<const void*>(&overhead_test_target), sizeof on_disk))
      << "offset " << offset << " of " << path << " holds other bytes than the function";
}

TEST(OwnFileOffset, DataIsNotCode) {
  static int not_code = 0;
  std::string path, error;
  std::uint64_t offset = 0;
  EXPECT_FALSE(own_file_offset(&not_code, &path, &offset, &error));
  EXPECT_FALSE(error.empty());
}

// ---- the real kernel (root) -------------------------------------------------------------------

// An empty uprobe on overhead_test_target in this process, with BPF run-time stats on.
class EmptyUprobeOnTestTarget : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!root()) GTEST_SKIP() << "needs root (BPF programs and uprobes)";
    std::string path;
    std::uint64_t offset = 0;
    ASSERT_TRUE(own_file_offset(reinterpret_cast<const void*>(&overhead_test_target), &path, &offset, &error))
        << error;
    stats = BpfStatsSession::enable(&error);
    ASSERT_TRUE(stats) << error;
    probes = EmptyUprobes::attach(getpid(), path, {offset}, &error);
    ASSERT_TRUE(probes) << error;
  }
  std::string error;
  std::unique_ptr<BpfStatsSession> stats;
  std::unique_ptr<EmptyUprobes> probes;
};

TEST_F(EmptyUprobeOnTestTarget, EveryCallRunsTheProgramOnce) {
  auto before = read_program_run_stats(probes->program_fd(), &error);
  ASSERT_TRUE(before) << error;
  int (*volatile fn)(int) = overhead_test_target;
  int x = 0;
  for (int i = 0; i < 1000; ++i) x = fn(x);
  EXPECT_EQ(x, 1000);  // the displaced instruction still runs correctly under the probe
  auto after = read_program_run_stats(probes->program_fd(), &error);
  ASSERT_TRUE(after) << error;
  EXPECT_EQ(after->run_count - before->run_count, 1000u);
  EXPECT_GT(after->run_time_ns, before->run_time_ns);
}

TEST_F(EmptyUprobeOnTestTarget, DetachedWhenDestroyed) {
  // Keep the program alive past the links to read its count after they are gone.
  int prog = dup(probes->program_fd());
  probes.reset();
  auto before = read_program_run_stats(prog, &error);
  int (*volatile fn)(int) = overhead_test_target;
  for (int i = 0; i < 100; ++i) fn(i);
  auto after = read_program_run_stats(prog, &error);
  close(prog);
  ASSERT_TRUE(before && after) << error;
  EXPECT_EQ(after->run_count, before->run_count);
}

TEST(EmptyUprobes, BadOffsetsAreErrors) {
  std::string error;
  EXPECT_FALSE(EmptyUprobes::attach(getpid(), "/proc/self/exe", {}, &error));
  EXPECT_NE(error.find("no uprobe offsets"), std::string::npos);
  if (!root()) GTEST_SKIP() << "needs root for the kernel-side check";
  error.clear();
  EXPECT_FALSE(EmptyUprobes::attach(getpid(), "/nonexistent/binary", {0}, &error));
  EXPECT_NE(error.find("/nonexistent/binary"), std::string::npos) << error;
}

TEST(Calibration, MeasuresAVerifiedPositiveTrapCost) {
  if (!root()) GTEST_SKIP() << "needs root (BPF programs and uprobes)";
  std::string error;
  auto c = calibrate_trap_cost(&error, 2000, 2);
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->verified);  // BPF stats confirmed one program run per probed call
  EXPECT_GT(c->ns_per_hit, 0.0);
  EXPECT_EQ(c->calls, 2000u);
  std::printf("trap cost on this kernel: %.0f ns/hit (plain call %.1f ns, %s)\n", c->ns_per_hit,
              c->ns_per_plain_call, c->multi ? "uprobe_multi" : "perf-event uprobe");
}

TEST(Calibration, RefusesEmptyWork) {
  std::string error;
  EXPECT_FALSE(calibrate_trap_cost(&error, 0, 3));
  EXPECT_FALSE(error.empty());
}
