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
  auto found = own_file_offset(reinterpret_cast<const void*>(&overhead_test_target));
  ASSERT_TRUE(found) << found.error();
  const std::string& path = found->path;
  const std::uint64_t offset = found->offset;
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
  auto found = own_file_offset(&not_code);
  ASSERT_FALSE(found);
  EXPECT_FALSE(found.error().empty());
}

// ---- the real kernel (root) -------------------------------------------------------------------

// An empty uprobe on overhead_test_target in this process, with BPF run-time stats on.
class EmptyUprobeOnTestTarget : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!root()) GTEST_SKIP() << "needs root (BPF programs and uprobes)";
    auto found = own_file_offset(reinterpret_cast<const void*>(&overhead_test_target));
    ASSERT_TRUE(found) << found.error();
    auto enabled = BpfStatsSession::enable();
    ASSERT_TRUE(enabled) << enabled.error();
    stats = std::move(enabled).value();
    auto attached = EmptyUprobes::attach(getpid(), found->path, {found->offset});
    ASSERT_TRUE(attached) << attached.error();
    probes = std::move(attached).value();
  }
  std::unique_ptr<BpfStatsSession> stats;
  std::unique_ptr<EmptyUprobes> probes;
};

TEST_F(EmptyUprobeOnTestTarget, EveryCallRunsTheProgramOnce) {
  auto before = read_program_run_stats(probes->program_fd());
  ASSERT_TRUE(before) << before.error();
  int (*volatile fn)(int) = overhead_test_target;
  int x = 0;
  for (int i = 0; i < 1000; ++i) x = fn(x);
  EXPECT_EQ(x, 1000);  // the displaced instruction still runs correctly under the probe
  auto after = read_program_run_stats(probes->program_fd());
  ASSERT_TRUE(after) << after.error();
  EXPECT_EQ(after->run_count - before->run_count, 1000u);
  EXPECT_GT(after->run_time_ns, before->run_time_ns);
}

TEST_F(EmptyUprobeOnTestTarget, DetachedWhenDestroyed) {
  // Keep the program alive past the links to read its count after they are gone.
  int prog = dup(probes->program_fd());
  probes.reset();
  auto before = read_program_run_stats(prog);
  int (*volatile fn)(int) = overhead_test_target;
  for (int i = 0; i < 100; ++i) fn(i);
  auto after = read_program_run_stats(prog);
  close(prog);
  ASSERT_TRUE(before) << before.error();
  ASSERT_TRUE(after) << after.error();
  EXPECT_EQ(after->run_count, before->run_count);
}

TEST(EmptyUprobes, BadOffsetsAreErrors) {
  auto none = EmptyUprobes::attach(getpid(), "/proc/self/exe", {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("no uprobe offsets"), std::string::npos);
  if (!root()) GTEST_SKIP() << "needs root for the kernel-side check";
  auto missing = EmptyUprobes::attach(getpid(), "/nonexistent/binary", {0});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("/nonexistent/binary"), std::string::npos) << missing.error();
  EXPECT_EQ(missing.failure().code, ENOENT) << missing.error();  // the errno travels with the message
}

TEST(Calibration, MeasuresAVerifiedPositiveTrapCost) {
  if (!root()) GTEST_SKIP() << "needs root (BPF programs and uprobes)";
  auto c = calibrate_trap_cost(2000, 2);
  ASSERT_TRUE(c) << c.error();
  EXPECT_TRUE(c->verified);  // BPF stats confirmed one program run per probed call
  EXPECT_GT(c->ns_per_hit, 0.0);
  EXPECT_EQ(c->calls, 2000u);
  std::printf("trap cost on this kernel: %.0f ns/hit (plain call %.1f ns, %s)\n", c->ns_per_hit, c->ns_per_plain_call,
              c->multi ? "uprobe_multi" : "perf-event uprobe");
}

TEST(Calibration, RefusesEmptyWork) {
  auto c = calibrate_trap_cost(0, 3);
  ASSERT_FALSE(c);
  EXPECT_FALSE(c.error().empty());
}
