// The attach strategies (agent/uprobe_attach.h) on a function of this test binary, each running an
// empty program whose run count the kernel's BPF stats give: one uprobe_multi link, classic
// uprobes with and without a cookie, the fallback from a uprobe_multi link the kernel refuses to
// classic ones, and the {tgid, address} spec entries of kernels without cookies. Every call hits
// the probe once while attached and never after. Needs root; skipped (77) otherwise, failed under
// CI=true.
#include "agent/uprobe_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "agent/bpf_stats.h"
#include "agent/trap_calibration.h"
#include "agent/uprobe_multi.h"

namespace dwcp::agent {
namespace {

extern "C" __attribute__((noinline)) int uprobe_attach_test_target(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

// `r0 = 0; exit` as a uprobe program; for uprobe_multi links when `multi`.
Fd load_empty(bool multi) {
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, opts);
  if (multi) opts.expected_attach_type = static_cast<bpf_attach_type>(kBpfTraceUprobeMulti);
  return Fd(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "attach_test", "GPL", insns, 2, &opts));
}

std::uint64_t runs(const Fd& program) {
  auto stats = read_program_run_stats(program.get());
  EXPECT_TRUE(stats) << stats.error();
  return stats ? stats->run_count : 0;
}

void call_target(int times) {
  int (*volatile fn)(int) = uprobe_attach_test_target;
  int x = 0;
  for (int i = 0; i < times; ++i) x = fn(x);
  EXPECT_EQ(x, times);  // the displaced instruction still runs right under the probe
}

class UprobeAttach : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs and uprobes)";
    auto found = own_file_offset(reinterpret_cast<const void*>(&uprobe_attach_test_target));
    ASSERT_TRUE(found) << found.error();
    binary = found->path;
    sites = {{found->offset, 3}};
    auto enabled = BpfStatsSession::enable();
    ASSERT_TRUE(enabled) << enabled.error();
    stats = std::move(enabled).value();
    classic = load_empty(false);
    ASSERT_TRUE(classic) << "cannot load a uprobe program";
  }
  // Every call runs `program` while `links` are attached, none after they are detached.
  void expect_hits_until_detached(std::vector<Link> links, const Fd& program) {
    const std::uint64_t before = runs(program);
    call_target(100);
    EXPECT_EQ(runs(program) - before, 100u);
    detach_links(&links);
    const std::uint64_t detached = runs(program);
    call_target(10);
    EXPECT_EQ(runs(program), detached) << "the probe still runs after its link was detached";
  }
  std::string binary;
  std::vector<UprobeSite> sites;
  std::unique_ptr<BpfStatsSession> stats;
  Fd classic;
};

TEST_F(UprobeAttach, OneUprobeMultiLinkWhereTheKernelHasThem) {
  Fd multi = load_empty(true);
  if (!multi) GTEST_SKIP() << "this kernel has no uprobe_multi programs";
  auto attached = attach_uprobes({multi.get(), classic.get(), true}, getpid(), binary, sites);
  ASSERT_TRUE(attached) << attached.error();
  EXPECT_TRUE(attached->multi);
  EXPECT_FALSE(attached->multi_refused);
  ASSERT_EQ(attached->links.size(), 1u);
  expect_hits_until_detached(std::move(attached->links), multi);
}

TEST_F(UprobeAttach, ClassicUprobesWithAndWithoutCookies) {
  for (bool cookies : {true, false}) {
    auto attached = attach_uprobes({-1, classic.get(), cookies}, getpid(), binary, sites);
    ASSERT_TRUE(attached) << attached.error();
    EXPECT_FALSE(attached->multi);
    ASSERT_EQ(attached->links.size(), 1u);
    expect_hits_until_detached(std::move(attached->links), classic);
  }
}

// A program not loaded for uprobe_multi makes the kernel refuse the link with EINVAL, as a
// kernel without uprobe_multi links does: the sites get classic uprobes instead.
TEST_F(UprobeAttach, FallsBackToClassicWhenTheKernelRefusesUprobeMulti) {
  Fd not_multi = load_empty(false);
  ASSERT_TRUE(not_multi);
  auto attached = attach_uprobes({not_multi.get(), classic.get(), true}, getpid(), binary, sites);
  ASSERT_TRUE(attached) << attached.error();
  EXPECT_TRUE(attached->multi_refused);
  EXPECT_FALSE(attached->multi);
  expect_hits_until_detached(std::move(attached->links), classic);
}

TEST_F(UprobeAttach, AMissingBinaryIsAnErrorWithItsErrno) {
  auto attached = attach_uprobes({-1, classic.get(), true}, getpid(), "/nonexistent/binary", sites);
  ASSERT_FALSE(attached);
  EXPECT_NE(attached.error().find("/nonexistent/binary"), std::string::npos) << attached.error();
  EXPECT_EQ(attached.failure().code, ENOENT) << attached.error();
}

// Kernels without cookies: each site's spec index sits in the {tgid, address} map while its
// uprobe is attached, and goes with its link.
TEST_F(UprobeAttach, ByAddressTheSpecEntryLivesAsLongAsTheLink) {
  Fd map(
      bpf_map_create(BPF_MAP_TYPE_HASH, "attach_test", sizeof(dwcp_spec_addr_key), sizeof(std::uint32_t), 8, nullptr));
  ASSERT_TRUE(map);
  auto links = attach_uprobes_by_address(classic.get(), map.get(), getpid(), binary, sites);
  ASSERT_TRUE(links) << links.error();
  ASSERT_EQ(links->size(), 1u);
  dwcp_spec_addr_key key{}, next{};
  ASSERT_EQ(bpf_map_get_next_key(map.get(), nullptr, &key), 0) << "no spec entry while attached";
  std::uint32_t spec = 0;
  ASSERT_EQ(bpf_map_lookup_elem(map.get(), &key, &spec), 0);
  EXPECT_EQ(spec, 3u);
  EXPECT_EQ(key.tgid, static_cast<std::uint32_t>(getpid()));
  EXPECT_EQ(key.addr, reinterpret_cast<std::uintptr_t>(&uprobe_attach_test_target));
  expect_hits_until_detached(std::move(links).value(), classic);
  EXPECT_NE(bpf_map_get_next_key(map.get(), nullptr, &next), 0) << "the spec entry outlived its link";
}

}  // namespace
}  // namespace dwcp::agent
