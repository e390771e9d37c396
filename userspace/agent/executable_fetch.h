// Reads a target's executable in a helper process, never in the agent. A read of a file can
// block for good (a stalled FUSE or network file system answers nothing): a thread of the agent
// stuck in the kernel keeps the whole agent from exiting, a helper process does not. The helper
// (a fork of the calling thread) opens /proc/PID/exe, checks it is the file that was judged and
// that its file system is one the kernel keeps owners on, drops every capability, and copies
// the file into a sealed memfd; it hands both descriptors back over a socket. The agent parses
// the copy (memory, which cannot stall) and attaches uprobes through the original descriptor.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/executable.h"
#include "agent/follow_policy.h"
#include "dwcp_observer/fd.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

// Largest executable file accepted, and the most data copied out of it (DWCP's are tens of MiB).
// Holes are not data: a sparse file keeps its holes in the copy and costs only what it holds.
constexpr std::uint64_t kMaxExecutableBytes = std::uint64_t{4} << 30;
constexpr std::uint64_t kMaxExecutableData = std::uint64_t{1} << 30;

struct FetchRequest {
  int pid = 0;
  FileIdentity expected;  // the file must be exactly this one (same inode, size, times, owner, mode)
  // Check fstatfs of the opened file against trusted_fs_magic (false: the operator allowed this
  // mount's type with --allow-fs).
  bool check_magic = true;
  bool skip_non_go = false;  // a file whose section headers name no Go section is not copied
  // The caller parsed this very file before (ExecutableLoader's cache): opened and checked as
  // always, not copied (no copy).
  bool open_only = false;
};

// What the helper handed back. A failure is kUntrustedFileSystem when the file's file system is not
// one the kernel keeps owners on (the follow policy's refusal "file_system"), kTarget otherwise.
struct Fetched {
  std::shared_ptr<const ExecutableFile> file;  // the target's executable, pinned
  Fd copy;                                     // sealed memfd with its bytes; empty: not copied (not Go)
};

// Blocks the calling thread until the helper answers or dies. *helper is the helper's pid while
// it runs (0 before and after): the caller may SIGKILL it to give up, which ends this call.
Result<Fetched> fetch_executable(const FetchRequest& request, std::atomic<pid_t>* helper);

}  // namespace dwcp::agent
