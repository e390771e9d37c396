// Who the root agent may follow: the default (root-owned, not group/other-writable) and the
// narrowing allow-lists; refusals counted each time, logged once per executable and rate-limited.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "agent/follow_policy.h"

namespace dwcp::agent {
namespace {

FileIdentity file(uid_t owner, mode_t mode, ino_t ino = 7) {
  FileIdentity id;
  id.dev = 1;
  id.ino = ino;
  id.owner = owner;
  id.mode = S_IFREG | mode;
  return id;
}

const ProcessCredentials kRoot{0, 0};

TEST(FollowPolicy, DefaultFollowsRootOwnedNotWritableByOthers) {
  FollowPolicy policy;
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/usr/bin/api-server"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 04755), ProcessCredentials{1000, 0}, "/usr/bin/x"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0500), ProcessCredentials{1000, 1000}, "/x"), Refusal::kNone);
}

TEST(FollowPolicy, RefusesUserOwnedOrWritableExecutables) {
  FollowPolicy policy;
  // A local user's own binary, even when running as root (e.g. started by a root cron job).
  EXPECT_EQ(check_candidate(policy, file(65534, 0755), kRoot, "/tmp/dwcp"), Refusal::kOwner);
  EXPECT_EQ(check_candidate(policy, file(1000, 0700), ProcessCredentials{1000, 1000}, "/home/u/dwcp"), Refusal::kOwner);
  EXPECT_EQ(check_candidate(policy, file(0, 0775), kRoot, "/opt/x"), Refusal::kWritable);
  EXPECT_EQ(check_candidate(policy, file(0, 0757), kRoot, "/opt/x"), Refusal::kWritable);
}

TEST(FollowPolicy, AllowUidNarrowsByRealAndEffectiveUid) {
  FollowPolicy policy;
  policy.allow_uids = {0, 998};
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/x"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0755), ProcessCredentials{998, 998}, "/x"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0755), ProcessCredentials{1000, 1000}, "/x"), Refusal::kUid);
  // A setuid-root program run by an unlisted user: its real uid is not allowed.
  EXPECT_EQ(check_candidate(policy, file(0, 04755), ProcessCredentials{1000, 0}, "/x"), Refusal::kUid);
  // The owner rule holds whatever the allow-list says.
  EXPECT_EQ(check_candidate(policy, file(998, 0755), ProcessCredentials{998, 998}, "/x"), Refusal::kOwner);
}

TEST(FollowPolicy, AllowPathGlobOrPrefix) {
  EXPECT_TRUE(path_allowed("/opt/novacron", "/opt/novacron/bin/api-server"));
  EXPECT_TRUE(path_allowed("/opt/novacron/", "/opt/novacron/bin/api-server"));
  EXPECT_TRUE(path_allowed("/opt/novacron/bin/api-server", "/opt/novacron/bin/api-server"));
  EXPECT_FALSE(path_allowed("/opt/novacron", "/opt/novacron-evil/api-server"));
  EXPECT_TRUE(path_allowed("/opt/*/bin/api-server", "/opt/novacron/bin/api-server"));
  EXPECT_FALSE(path_allowed("/opt/*/bin/api-server", "/opt/novacron/bin/api-server2"));
  EXPECT_TRUE(path_allowed("/usr/local/bin/api-server-[0-9]*", "/usr/local/bin/api-server-1.2"));
  EXPECT_FALSE(path_allowed("", "/x"));

  FollowPolicy policy;
  policy.allow_paths = {"/opt/novacron", "/srv/*/api-server"};
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/opt/novacron/api"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/srv/a/api-server"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/opt/novacron/api (deleted)"), Refusal::kNone);
  EXPECT_EQ(check_candidate(policy, file(0, 0755), kRoot, "/tmp/api"), Refusal::kPath);
}

TEST(FollowPolicy, AllowBuildId) {
  FollowPolicy policy;
  EXPECT_EQ(check_build_id(policy, "", ""), Refusal::kNone);  // no list: any build
  policy.allow_build_ids = {"abc123", "goid/x/y/z"};
  EXPECT_EQ(check_build_id(policy, "abc123", ""), Refusal::kNone);
  EXPECT_EQ(check_build_id(policy, "", "goid/x/y/z"), Refusal::kNone);
  EXPECT_EQ(check_build_id(policy, "def", "goid/other"), Refusal::kBuildId);
  EXPECT_EQ(check_build_id(policy, "", ""), Refusal::kBuildId);
}

TEST(RefusalLog, CountsEveryRefusalLogsOncePerExecutableAndRateLimits) {
  std::vector<std::string> lines;
  RefusalLog log(log::Logger([&](log::Level level, const std::string& line) {
    EXPECT_EQ(level, log::Level::kInfo);
    lines.push_back(line);
  }));
  const auto t0 = RefusalLog::Clock::now();
  // The same fake binary, run again and again: one line.
  for (int i = 0; i < 50; ++i) log.refuse(Refusal::kOwner, file(1000, 0755, 1), "process " + std::to_string(i), t0);
  EXPECT_EQ(log.count(Refusal::kOwner), 50u);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("process 0"), std::string::npos);
  EXPECT_NE(lines[0].find("owner"), std::string::npos);
  // The same binary refused for another reason is another line.
  log.refuse(Refusal::kPath, file(1000, 0755, 1), "p", t0);
  EXPECT_EQ(lines.size(), 2u);
  // Many different binaries within a minute: at most kLinesPerMinute lines.
  for (int i = 0; i < 100; ++i) log.refuse(Refusal::kOwner, file(1000, 0755, 100 + i), "q", t0);
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(RefusalLog::kLinesPerMinute));
  EXPECT_EQ(log.count(Refusal::kOwner), 150u);
  // A minute later: the number left out is said, and new binaries are logged again.
  log.refuse(Refusal::kOwner, file(1000, 0755, 999), "late", t0 + std::chrono::seconds(61));
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(RefusalLog::kLinesPerMinute) + 2);
  EXPECT_NE(lines[lines.size() - 2].find("92 more refused candidates"), std::string::npos) << lines[lines.size() - 2];
  EXPECT_NE(lines.back().find("late"), std::string::npos);
}

TEST(RefusalLog, ExportsEveryReasonFromTheStart) {
  RefusalLog log(log::Logger([](log::Level, const std::string&) {}));
  log.refuse(Refusal::kWritable, file(0, 0777), "x");
  auto families = log.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "dwcp_observer_discovery_refused_total");
  EXPECT_EQ(families[0].metric.size(), static_cast<std::size_t>(Refusal::kCount) - 1);
  double writable = -1, owner = -1;
  for (const auto& m : families[0].metric) {
    if (m.label[0].value == "writable") writable = m.counter.value;
    if (m.label[0].value == "owner") owner = m.counter.value;
  }
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(owner, 0);
}

}  // namespace
}  // namespace dwcp::agent
