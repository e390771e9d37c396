// /proc parsing: comm is whatever a process set (prctl takes any byte but NUL), so the stat
// line is split at the first '(' and the LAST ')'; log text is escaped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent/process.h"

namespace dwcp::agent {
namespace {

// Fields 3..22 of a stat line: state ppid pgrp session tty tpgid flags ... starttime.
std::string stat_line(const std::string& comm, const std::string& state = "S", const std::string& flags = "4194560",
                      const std::string& start = "123456") {
  return "4242 (" + comm + ") " + state + " 1 4242 4242 0 -1 " + flags + " 10 0 0 0 5 6 0 0 20 0 3 0 " + start +
         " 1000 200 18446744073709551615\n";
}

TEST(ParseStat, PlainComm) {
  auto f = parse_stat(stat_line("dwcp-fixture"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->comm, "dwcp-fixture");
  EXPECT_EQ(f->state, 'S');
  EXPECT_EQ(f->flags, 4194560u);
  EXPECT_EQ(f->utime_ticks, 5u);
  EXPECT_EQ(f->stime_ticks, 6u);
  EXPECT_EQ(f->start_time, 123456u);
}

TEST(ParseStat, CommWithParenthesesSpacesAndNewline) {
  // A forged comm that looks like the end of comm and a different state and start time.
  auto f = parse_stat(stat_line("a) Z 1 2 (b\nc) R"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->comm, "a) Z 1 2 (b\nc) R");
  EXPECT_EQ(f->state, 'S');
  EXPECT_EQ(f->utime_ticks, 5u);  // fields counted from the last ')', not shifted by comm
  EXPECT_EQ(f->start_time, 123456u);
}

TEST(ParseStat, EmptyComm) {
  auto f = parse_stat(stat_line(""));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->comm, "");
  EXPECT_EQ(f->start_time, 123456u);
}

TEST(ParseStat, RefusesTruncatedOrMalformedLines) {
  EXPECT_FALSE(parse_stat(""));
  EXPECT_FALSE(parse_stat("4242 dwcp S 1"));                                      // no parentheses
  EXPECT_FALSE(parse_stat("4242 (dwcp) S 1 4242 4242"));                          // ends before starttime
  EXPECT_FALSE(parse_stat(stat_line("x", "S", "12a")));                           // flags not a number
  EXPECT_FALSE(parse_stat(stat_line("x", "S", "1", "99999999999999999999999")));  // overflow
  EXPECT_FALSE(parse_stat(stat_line("x", "SS")));                                 // state is one character
  EXPECT_FALSE(parse_stat(")4242 (x"));                                           // ')' before '('
  std::string bad_utime = stat_line("x");
  bad_utime.replace(bad_utime.find(" 5 6 "), 5, " 2x0 6 ");
  EXPECT_FALSE(parse_stat(bad_utime));  // utime not a number
}

TEST(ProcessCpuSeconds, OwnProcessCpuTimeIsReadAndGrows) {
  auto before = process_cpu_seconds(getpid());
  ASSERT_TRUE(before.has_value());
  // Burn CPU until the tick-granular counter moves (bounded, so a broken reader fails).
  volatile std::uint64_t sink = 0;
  std::optional<double> after;
  for (int i = 0; i < 400 && (!after || *after <= *before); ++i) {
    for (int j = 0; j < 1000000; ++j) sink = sink + j;
    after = process_cpu_seconds(getpid());
  }
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, *before);
}

TEST(ProcessCpuSeconds, MissingProcessHasNone) { EXPECT_FALSE(process_cpu_seconds(0x3fffffff)); }

TEST(ParseStat, OwnProcessMatchesInspect) {
  // Our own comm with a newline and a ')' in it, read back through /proc like any target.
  char old_name[17] = {};
  prctl(PR_GET_NAME, old_name);
  prctl(PR_SET_NAME, "ev)il\nname");
  // inspect_process refuses the agent itself: read a child instead.
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  auto info = inspect_process(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  prctl(PR_SET_NAME, old_name);
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->comm, "ev)il\nname");
  EXPECT_EQ(info->creds.real, getuid());
  EXPECT_EQ(info->creds.effective, geteuid());
  EXPECT_GT(info->start_time, 0u);
  EXPECT_EQ(escape_for_log(info->comm), "ev)il\\x0aname");
}

TEST(ParseStatusUids, RealAndEffective) {
  auto ids = parse_status_uids("Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->real, 1000u);
  EXPECT_EQ(ids->effective, 0u);
  EXPECT_FALSE(parse_status_uids("Name:\tx\n"));
  EXPECT_FALSE(parse_status_uids("Uid:\t1000\n"));
  EXPECT_FALSE(parse_status_uids("Uid:\t-1\t0\t0\t0\n"));
  EXPECT_FALSE(parse_status_uids("Uid:\t99999999999\t0\t0\t0\n"));
}

TEST(EscapeForLog, ControlCharactersCannotForgeLines) {
  EXPECT_EQ(escape_for_log("/opt/dwcp/api-server"), "/opt/dwcp/api-server");
  EXPECT_EQ(escape_for_log("/tmp/x\ndwcp-observer: attached 106 uprobes"),
            "/tmp/x\\x0adwcp-observer: attached 106 uprobes");
  EXPECT_EQ(escape_for_log("a\\x0ab"), "a\\\\x0ab");  // a literal backslash cannot fake an escape
  EXPECT_EQ(escape_for_log("\x1b[2J\r\t"), "\\x1b[2J\\x0d\\x09");
  EXPECT_EQ(escape_for_log("\xc3\xa9"), "\\xc3\\xa9");
  EXPECT_EQ(escape_for_log(std::string(300, 'a'), 4), "aaaa...");
}

}  // namespace
}  // namespace dwcp::agent
