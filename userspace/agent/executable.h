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

#include "dwcp_observer/result.h"

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
  // The mount the file is on (statx STATX_MNT_ID, Linux 5.8+; 0 when unknown): its file system
  // type is looked up in the process's mount table without asking the file system anything.
  std::uint64_t mnt_id = 0;

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

// The file system type of mount `mnt_id` as process `pid`'s mount table lists it ("ext4",
// "fuse.sshfs"); "" when it is not listed (a file executed from another mount namespace).
// Reads /proc/PID/mountinfo only: a stalled file system cannot block it.
std::string mount_type(int pid, std::uint64_t mnt_id);
// File systems whose owner and mode the kernel itself keeps on local storage. Not FUSE (its
// server says who owns a file), nor a network file system (its server does), nor anything
// unknown: the owner rule means nothing there (docs/security.md).
bool trusted_fs_type(const std::string& type);
// The same by fstatfs's f_type, checked on the opened file.
bool trusted_fs_magic(std::uint64_t f_type);
// The ELF section headers of the file open at `fd` (`size` bytes) name a Go section
// (.go.buildinfo, .gopclntab, .note.go.buildid). Reads at most the ELF header, the section
// header table and the section name table, each bounded.
bool elf_looks_like_go(int fd, std::uint64_t size);

class ExecutableFile {
 public:
  // Opens /proc/PID/exe (this may block on a stalled file system: call it off the main thread,
  // see agent/executable_loader.h). Fails when the file is not a regular file.
  static Result<std::shared_ptr<const ExecutableFile>> open(int pid);
  // Takes ownership of `fd`, opened (and identified) elsewhere: by the read helper
  // (agent/executable_fetch.h).
  static std::shared_ptr<const ExecutableFile> adopt(int fd, const FileIdentity& identity);
  ~ExecutableFile();
  ExecutableFile(const ExecutableFile&) = delete;
  ExecutableFile& operator=(const ExecutableFile&) = delete;

  int fd() const { return fd_; }
  const FileIdentity& identity() const { return identity_; }
  // "/proc/self/fd/N": a path every file-taking API (parsers, uprobe attach) resolves to this
  // open file, not to whatever /proc/PID/exe names by then.
  std::string path() const;
  // elf_looks_like_go on this file: a cheap filter before reading a large non-Go binary whole.
  bool looks_like_go() const { return elf_looks_like_go(fd_, identity_.size); }

 private:
  ExecutableFile(int fd, FileIdentity identity) : fd_(fd), identity_(identity) {}
  int fd_ = -1;
  FileIdentity identity_;
};

}  // namespace dwcp::agent
