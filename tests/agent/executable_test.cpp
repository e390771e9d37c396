// The pinned executable: one fd per target, its identity, the cheap Go sniff, and the reader
// on a worker (package check, identity check against what the candidate was judged by).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "agent/executable.h"
#include "agent/executable_loader.h"
#include "agent/process.h"
#include "child_process.h"

namespace dwcp::agent {
namespace {

const char* kPackage = "github.com/khryptorgraphics/novacron/backend/core/network/dwcp";

using test_support::fixture;

// A fixture process, waiting (--wait-signal) until killed.
using test_support::Child;

TEST(ExecutableFile, IdentityMatchesPeekAndPathReachesTheSameInode) {
  Child child(fixture("dwcp-fixture"));
  auto peek = peek_executable(child.pid());
  ASSERT_TRUE(peek);
  auto file = ExecutableFile::open(child.pid());
  ASSERT_TRUE(file) << file.error();
  EXPECT_TRUE((*file)->identity() == *peek);
  EXPECT_EQ((*file)->identity().owner, peek->owner);
  struct stat on_disk {};
  ASSERT_EQ(stat(fixture("dwcp-fixture").c_str(), &on_disk), 0);
  EXPECT_EQ((*file)->identity().ino, on_disk.st_ino);
  struct stat through_path {};
  ASSERT_EQ(stat((*file)->path().c_str(), &through_path), 0);
  EXPECT_EQ(through_path.st_ino, on_disk.st_ino);
  EXPECT_TRUE((*file)->looks_like_go());
}

TEST(ExecutableFile, SniffTellsGoFromOtherElf) {
  pid_t self_child = fork();  // this test binary: C++, no Go sections
  if (self_child == 0) {
    pause();
    _exit(0);
  }
  auto file = ExecutableFile::open(self_child);
  kill(self_child, SIGKILL);
  waitpid(self_child, nullptr, 0);
  ASSERT_TRUE(file) << file.error();
  EXPECT_FALSE((*file)->looks_like_go());
  Child stripped(fixture("dwcp-fixture-stripped-pie"));
  auto go = ExecutableFile::open(stripped.pid());
  ASSERT_TRUE(go) << go.error();
  EXPECT_TRUE((*go)->looks_like_go());
}

TEST(ExecutableLoader, ReadsThePackageOfDwcpOnly) {
  ExecutableLoader loader(std::chrono::seconds(30));
  for (const char* name : {"dwcp-fixture", "dwcp-fixture-stripped-pie", "not-dwcp"}) {
    Child child(fixture(name));
    auto process = inspect_process(child.pid());
    ASSERT_TRUE(process) << process.error();
    Result<LoadedExecutable> loaded = loader.load({child.pid(), process->exe, kPackage, true});
    ASSERT_TRUE(loaded) << name << ": " << loaded.error();
    EXPECT_TRUE(loaded->binary()) << name;
    EXPECT_EQ(loaded->has_package, std::string(name) != "not-dwcp") << name;
    EXPECT_EQ(loaded->file->identity().ino, process->exe.ino);
  }
  EXPECT_TRUE(loader.stuck().empty());
}

TEST(ExecutableLoader, RefusesAFileOtherThanTheOneJudged) {
  Child child(fixture("dwcp-fixture"));
  auto process = inspect_process(child.pid());
  ASSERT_TRUE(process) << process.error();
  FileIdentity judged = process->exe;
  judged.ino += 1;  // as if the process had execve()d another file since
  ExecutableLoader loader(std::chrono::seconds(30));
  Result<LoadedExecutable> loaded = loader.load({child.pid(), judged, kPackage, false});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(load_refusal(loaded.failure()), Refusal::kUnreadable);
  EXPECT_NE(loaded.error().find("another file"), std::string::npos) << loaded.error();
}

TEST(ExecutableLoader, AKnownExecutableIsNotParsedAgainButStillOpenedAndChecked) {
  ExecutableLoader loader(std::chrono::seconds(30));
  Child first(fixture("dwcp-fixture"));
  auto judged = inspect_process(first.pid());
  ASSERT_TRUE(judged) << judged.error();
  Result<LoadedExecutable> read = loader.load({first.pid(), judged->exe, kPackage, true});
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(loader.cached(), 1u);

  // A restart of the same file: the parse is the one kept, the file its own descriptor.
  Child restart(fixture("dwcp-fixture"));
  Result<LoadedExecutable> again = loader.load({restart.pid(), judged->exe, kPackage, true});
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->has_package);
  ASSERT_TRUE(again->binary());
  EXPECT_EQ(again->binary()->function_names(), read->binary()->function_names());
  EXPECT_NE(again->file.get(), read->file.get());
  EXPECT_EQ(again->parsed.get(), read->parsed.get());  // shared, not copied
  EXPECT_EQ(loader.cached(), 1u);
  // The DWARF is read when first asked for, once, from the copy the first read kept.
  ASSERT_TRUE(read->dwarf()) << read->dwarf().error();
  EXPECT_EQ(&again->dwarf(), &read->dwarf());

  // A process judged by the known file's identity that runs another file by the time it is
  // opened (it execve()d a copy): the kept parse does not stand in for what it runs.
  char dir_template[] = "/tmp/dwcp-loader-unit-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string copy = dir + "/dw";
  ASSERT_EQ(std::system(("cp " + fixture("dwcp-fixture") + " " + copy).c_str()), 0);
  {
    Child other(copy);
    Result<LoadedExecutable> swapped = loader.load({other.pid(), judged->exe, kPackage, true});
    ASSERT_FALSE(swapped);
    EXPECT_NE(swapped.error().find("another file"), std::string::npos) << swapped.error();
  }
  std::system(("rm -rf " + dir).c_str());
}

// Discovery counts a failed read under the refusal its kind names (dwcp_observer_discovery_refused_total).
TEST(ExecutableLoader, EachFailureKindCountsAsItsRefusal) {
  EXPECT_EQ(load_refusal(Error{"past the deadline", 0, ErrorKind::kStuck}), Refusal::kStuck);
  EXPECT_EQ(load_refusal(Error{"stopped", 0, ErrorKind::kStopped}), Refusal::kStuck);
  EXPECT_EQ(load_refusal(Error{"fuse", 0, ErrorKind::kUntrustedFileSystem}), Refusal::kFileSystem);
  EXPECT_EQ(load_refusal(Error{"gone", 0, ErrorKind::kTarget}), Refusal::kUnreadable);
}

TEST(ExecutableLoader, StopEndsTheWait) {
  Child child(fixture("dwcp-fixture"));
  auto process = inspect_process(child.pid());
  ASSERT_TRUE(process) << process.error();
  std::atomic<bool> stop{true};
  ExecutableLoader loader(std::chrono::seconds(30));
  Result<LoadedExecutable> loaded = loader.load({child.pid(), process->exe, kPackage, false}, &stop);
  // Either the read beat the first look at the flag, or the wait ended on it.
  if (!loaded) {
    EXPECT_EQ(loaded.failure().kind, ErrorKind::kStopped);
    EXPECT_EQ(load_refusal(loaded.failure()), Refusal::kStuck);
  }
}

}  // namespace
}  // namespace dwcp::agent
