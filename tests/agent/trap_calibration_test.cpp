// The trap calibration (agent/trap_calibration.h): own mappings, empty uprobes and the timing;
// the kernel parts as root (skipped, with the reason, otherwise).
#include "agent/trap_calibration.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "agent/bpf_stats.h"

using namespace dwcp::agent;

namespace {

// A function of this test binary for the uprobe tests. noinline + an asm barrier: every call in
// the loop below is a real call the probe sees.
extern "C" __attribute__((noinline)) int overhead_test_target(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

bool root() { return geteuid() == 0; }

}  // namespace

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
