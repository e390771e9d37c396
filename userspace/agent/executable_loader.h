// Reads a target's executable on a worker thread, with a deadline. Opening and reading a file
// can block for good (a stalled FUSE or network file system, a file held by a fanotify
// permission listener): the agent's own loop, its signal handling and its HTTP server must not
// wait with it. The worker refuses file systems whose owners the kernel cannot vouch for before
// opening anything, has a helper process open and copy the file (agent/executable_fetch.h: a
// stuck read keeps the helper, not the agent, in the kernel) and parses the copy. A read that
// passes its deadline is given up (its thread left waiting for the helper) and reported until
// it ends: the agent's readiness says which target is stuck.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/executable.h"
#include "agent/follow_policy.h"
#include "dwcp_observer/fd.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {

// The DWARF of a parsed binary, read from the helper's sealed copy (memory: the read cannot
// stall) the first time it is asked for. Agent::attach_loaded asks for it only after the probes
// that do not depend on it are in: 15-90 ms of a first sighting of a 3.4 MB build (mostly libdw
// inflating every debug section), which a process that starts working at once after exec would
// otherwise spend uncounted. (Read on a thread of its own meanwhile, it took CPU from the loop's
// attach under load.)
class DwarfOnDemand {
 public:
  explicit DwarfOnDemand(Fd copy) : copy_(std::move(copy)) {}
  const Result<goelf::DwarfTypes>& get();

 private:
  std::once_flag once_;
  Fd copy_;
  Result<goelf::DwarfTypes> dwarf_ = Error{"not read"};
};

// What was parsed of an executable. Shared, never copied: the cache below and every target
// loaded from it hold the same one (a copy of a parsed binary's name tables costs milliseconds).
struct ParsedBinary {
  Result<goelf::GoBinary> binary = Error{"not read"};
  // Only when the binary holds the profile's package (DWARF of other programs is useless).
  std::shared_ptr<DwarfOnDemand> dwarf;
};

// What the worker read, all of it through one file descriptor.
struct LoadedExecutable {
  std::shared_ptr<const ExecutableFile> file;
  std::shared_ptr<const ParsedBinary> parsed;
  bool has_package = false;  // some function of the binary is in the profile's package
  const Result<goelf::GoBinary>& binary() const;
  // The binary's DWARF, read at the first call ("not read" when it does not hold the package).
  const Result<goelf::DwarfTypes>& dwarf() const;
};

struct LoadRequest {
  int pid = 0;
  // The identity the candidate was judged by (statx of /proc/PID/exe): the file opened must be
  // exactly this one, or the process execve()d in between and nothing is read.
  FileIdentity expected;
  std::string package;  // profile package: "github.com/.../dwcp"
  // Discovery: a binary whose section headers name no Go section is not read whole.
  bool skip_non_go = false;
};

// The refusal a failed load counts as (ExecutableLoader::load's error kinds): kStuck for a read
// given up (past its deadline, too many stuck, or stopped), kFileSystem for a file system the
// kernel cannot vouch for, kUnreadable for the rest.
Refusal load_refusal(const Error& error);

// What was parsed of an executable that holds the profile's package, by file identity (dev,
// inode, size, mtime, ctime): a restart or a replica of a DWCP binary is not copied and parsed
// again. The read helper still opens the file each time and checks that the descriptor it got is
// that identity (and owner, mode): a file changed or swapped since is a miss, read afresh; the
// follow policy has judged the process before either. Shared with the workers (a given-up one
// may finish after its loader is gone).
class ParsedCache {
 public:
  using Parsed = ParsedBinary;
  static constexpr std::size_t kMaxEntries = 8;  // a few MiB each (the copy stays mapped)
  std::shared_ptr<const Parsed> find(const FileIdentity& file);
  void insert(const FileIdentity& file, std::shared_ptr<const Parsed> parsed);
  std::size_t size();

 private:
  std::mutex mutex_;
  std::map<FileIdentity, std::shared_ptr<const Parsed>> entries_;
};

class ExecutableLoader {
 public:
  static constexpr std::size_t kMaxStuck = 4;  // abandoned reads before new ones are refused
  // `allow_fs`: --allow-fs, file system types allowed besides the trusted local ones.
  explicit ExecutableLoader(std::chrono::milliseconds deadline, std::vector<std::string> allow_fs = {})
      : deadline_(deadline), allow_fs_(std::move(allow_fs)) {}
  ~ExecutableLoader();

  // Blocks until the worker is done, the deadline passes, or *stop (when given) becomes true.
  // Fails with ErrorKind::kStuck (deadline passed, or kMaxStuck reads stuck already),
  // kUntrustedFileSystem, kStopped (*stop became true), or kTarget (unreadable).
  Result<LoadedExecutable> load(const LoadRequest& request, const std::atomic<bool>* stop = nullptr);
  // "process PID (stuck for N s)" for every given-up read still running; forgets finished ones.
  std::vector<std::string> stuck();
  // PIDs whose given-up read is still running.
  std::vector<int> stuck_pids();
  // Executables whose parse is kept (ParsedCache).
  std::size_t cached() const { return cache_->size(); }

 private:
  struct Job;
  void give_up(const std::shared_ptr<Job>& job, bool stopping);
  std::chrono::milliseconds deadline_;
  std::vector<std::string> allow_fs_;
  std::vector<std::shared_ptr<Job>> abandoned_;
  std::shared_ptr<ParsedCache> cache_ = std::make_shared<ParsedCache>();
};

}  // namespace dwcp::agent
