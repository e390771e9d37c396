// The executable of a target process, pinned: one file descriptor, opened once through
// /proc/PID/exe, from which the agent reads symbols and through which it attaches uprobes
// (as "/proc/self/fd/N", which the kernel resolves to the very same inode). A process that
// execve()s another program while the agent reads it cannot redirect the probes there: the
// probes go to the inode that was read, and the check after attaching sees the process left it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "goelf/result.h"

namespace dwcp::agent {

// Who a file is: enough to tell a replaced or rewritten binary from the one read before.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  uid_t owner = 0;
  mode_t mode = 0;

  bool same_inode(const FileIdentity& other) const { return dev == other.dev && ino == other.ino; }
  // Same inode and the same contents as far as the inode says (a rewrite in place changes
  // size, mtime or ctime): the key of the discovery verdict cache.
  bool operator==(const FileIdentity& other) const {
    return same_inode(other) && size == other.size && mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns;
  }
  bool operator<(const FileIdentity& other) const;
};

// The identity of process `pid`'s executable without opening it or asking its file system
// (statx with AT_STATX_DONT_SYNC on /proc/PID/exe: a stalled FUSE server cannot block this).
// nullopt when the process is gone, has no executable (kernel thread) or cannot be inspected.
std::optional<FileIdentity> peek_executable(int pid);

class ExecutableFile {
 public:
  // Opens /proc/PID/exe (this may block on a stalled file system: call it off the main thread,
  // see agent/executable_loader.h). Fails when the file is not a regular file.
  static Result<std::shared_ptr<const ExecutableFile>> open(int pid);
  ~ExecutableFile();
  ExecutableFile(const ExecutableFile&) = delete;
  ExecutableFile& operator=(const ExecutableFile&) = delete;

  int fd() const { return fd_; }
  const FileIdentity& identity() const { return identity_; }
  // "/proc/self/fd/N": a path every file-taking API (parsers, uprobe attach) resolves to this
  // open file, not to whatever /proc/PID/exe names by then.
  std::string path() const;
  // True when the ELF section headers name a Go section (.go.buildinfo, .gopclntab,
  // .note.go.buildid). Reads at most the ELF header, the section header table and the section
  // name table, each bounded: a cheap filter before reading a large non-Go binary whole.
  bool looks_like_go() const;

 private:
  ExecutableFile(int fd, FileIdentity identity) : fd_(fd), identity_(identity) {}
  int fd_ = -1;
  FileIdentity identity_;
};

}  // namespace dwcp::agent
