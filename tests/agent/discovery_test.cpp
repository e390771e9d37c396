// Discovery's scan on real processes: bounded candidates per scan, one judgement per process,
// verdicts remembered per executable identity, other users' binaries refused before any read.
// Needs root (the copies must be root-owned to pass the default policy; one is chowned away).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/discovery.h"
#include "child_process.h"

namespace dwcp::agent {
namespace {

using test_support::fixture;

class Dir {
 public:
  Dir() {
    char templ[] = "/tmp/dwcp-disc-unit-XXXXXX";
    path_ = mkdtemp(templ);
    chmod(path_.c_str(), 0755);
  }
  ~Dir() { std::system(("rm -rf " + path_).c_str()); }
  std::string copy(const std::string& from, const std::string& name, uid_t owner = 0) const {
    const std::string to = path_ + "/" + name;
    std::ifstream in(from, std::ios::binary);
    std::ofstream(to, std::ios::binary) << in.rdbuf();
    chmod(to.c_str(), 0755);
    if (chown(to.c_str(), owner, owner) != 0) ADD_FAILURE() << "chown " << to;
    return to;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A process running `path --wait-signal` (as `uid` when given), killed when destroyed.
using test_support::Child;

std::vector<int> pids_of(const std::vector<ProcessInfo>& processes) {
  std::vector<int> pids;
  for (const auto& p : processes) pids.push_back(p.pid);
  std::sort(pids.begin(), pids.end());
  return pids;
}

TEST(Discovery, BoundedScansOneJudgementPerProcessAndVerdictsPerExecutable) {
  if (geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci && (std::string(ci) == "true" || std::string(ci) == "1")) FAIL() << "CI runs as root: this test must run";
    GTEST_SKIP() << "needs root: the copies must be root-owned";
  }
  Dir dir;
  const std::string dwcp = dir.copy(fixture("dwcp-fixture"), "dw");
  const std::string other = dir.copy(fixture("not-dwcp"), "other");
  const std::string users = dir.copy(fixture("dwcp-fixture"), "users", 65534);
  std::vector<std::string> lines;
  RefusalLog refusals(log::Logger([&](log::Level, const std::string& line) { lines.push_back(line); }));
  FollowPolicy policy;
  policy.allow_paths = {dir.path()};  // only this test's processes
  DiscoveryLimits limits;
  limits.max_candidates_per_scan = 2;
  Discovery discovery(policy, &refusals, limits);

  Child a(dwcp), b(dwcp), c(other), fake(users, 65534);
  auto first = discovery.scan({});
  ASSERT_EQ(first.size(), 2u);  // the bound; the rest waits for the next scan
  for (const auto& p : first) discovery.settle(p, p.exe_path == dwcp);
  auto second = discovery.scan({});
  ASSERT_EQ(second.size(), 1u);
  for (const auto& p : second) discovery.settle(p, p.exe_path == dwcp);
  std::vector<int> all = pids_of(first);
  all.push_back(second[0].pid);
  std::sort(all.begin(), all.end());
  std::vector<int> expected = {a.pid(), b.pid(), c.pid()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(all, expected);
  EXPECT_TRUE(discovery.scan({}).empty());  // judged already: not again

  // The other user's binary was refused, before anything read it, and said once.
  EXPECT_EQ(refusals.count(Refusal::kOwner), 1u);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("process " + std::to_string(fake.pid())), std::string::npos) << lines[0];

  // Another process of a binary known to lack the package is not handed over again; another
  // process of the DWCP binary is (it must be attached), and an observed PID is skipped.
  Child d(other), e(dwcp);
  auto third = discovery.scan({a.pid(), b.pid()});
  EXPECT_EQ(pids_of(third), std::vector<int>{e.pid()});
  EXPECT_EQ(discovery.verdicts(), 2u);

  // A batch of execs naming one process twice (`sh -c 'exec dwcp'` execs twice under one pid):
  // one candidate, or the agent would make the second a replica target of the first.
  Child f(dwcp);
  EXPECT_EQ(pids_of(discovery.check({f.pid(), f.pid()}, {})), std::vector<int>{f.pid()});

  // An exec event is a new program, whatever the PID ran when it was judged (a PID reused by a
  // restart of the same binary): judged again, where a scan passes a judged process over.
  discovery.settle(discovery.check({f.pid()}, {}).at(0), true);
  EXPECT_TRUE(discovery.scan({a.pid(), b.pid(), e.pid()}).empty());
  EXPECT_EQ(pids_of(discovery.check({f.pid()}, {})), std::vector<int>{f.pid()});

  // A resync while the kernel lost no exec event looks only at processes never judged (no statx
  // of the others). A judged process whose execve() went unreported (here: judged as running
  // another file) is found by a full scan only.
  discovery.settle(discovery.check({f.pid()}, {}).at(0), true);
  Child g(dwcp), h(dwcp);
  auto judged = inspect_process(h.pid());
  ASSERT_TRUE(judged) << judged.error();
  ProcessInfo as_judged = *judged;
  as_judged.exe.ino += 1;
  discovery.settle(as_judged, std::nullopt);
  const std::vector<int> observed = {a.pid(), b.pid(), e.pid()};
  EXPECT_EQ(pids_of(discovery.scan(observed, false)), std::vector<int>{g.pid()});
  std::vector<int> both = {g.pid(), h.pid()};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(pids_of(discovery.scan(observed)), both);
}

}  // namespace
}  // namespace dwcp::agent
