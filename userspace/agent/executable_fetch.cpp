#include "agent/executable_fetch.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "agent/syscall_filter.h"

namespace dwcp::agent {
namespace {

// The helper's one message; with status kOk it carries the file's and the copy's descriptors.
struct Reply {
  enum Status : std::int32_t { kOk, kUnreadable, kFileSystem, kNotGo };
  std::int32_t status = kUnreadable;
  std::int32_t copied = 0;
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  std::uint32_t owner = 0, mode = 0;
  char error[240] = {};
};

std::int64_t ns(const timespec& t) { return t.tv_sec * 1000000000 + t.tv_nsec; }

void send_reply(int sock, const Reply& reply, const int* fds, int nfds) {
  iovec iov{const_cast<Reply*>(&reply), sizeof reply};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

// No capability left: what the helper reads after opening needs none, and a bug in the sniff
// below must not run with the agent's privilege.
void drop_all_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  syscall(SYS_capset, &header, data);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

// The helper, in the forked child: only plain system calls, then _exit.
[[noreturn]] void helper_main(int sock, const FetchRequest& request, const char* path) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // None of the agent's descriptors but the socket: a helper stuck in a read that a FUSE server
  // never answers cannot die (not even of SIGKILL) and would keep the agent's BPF links, and with
  // them the probes on DWCP, after the agent exited.
  close_range(3, static_cast<unsigned>(sock) - 1, 0);
  close_range(static_cast<unsigned>(sock) + 1, ~0u, 0);
  // Its seccomp filter has no openat: glibc must not trim a thread arena it forked with (that may
  // open /proc/sys/vm/overcommit_memory first); the helper lives for one file.
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  Reply reply;
  auto fail = [&](Reply::Status status, const char* what, int err) {
    reply.status = status;
    if (err != 0)
      std::snprintf(reply.error, sizeof reply.error, "%s %s: %s", what, path, std::strerror(err));
    else
      std::snprintf(reply.error, sizeof reply.error, "%s", what);
    send_reply(sock, reply, nullptr, 0);
    _exit(0);
  };
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail(Reply::kUnreadable, "cannot open", errno);
  drop_all_capabilities();
  // From here on only what the list allows: a call outside it in the ELF sniff or the copy
  // kills the helper, and the agent refuses the read (agent/syscall_filter.h).
  if (const int err = load_read_helper_filter(); err != 0)
    fail(Reply::kUnreadable, "cannot load the seccomp filter for", err);
  struct stat st {};
  if (fstat(fd, &st) != 0) fail(Reply::kUnreadable, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) fail(Reply::kUnreadable, "not a regular file:", 0);
  FileIdentity got;
  got.dev = st.st_dev;
  got.ino = st.st_ino;
  got.size = static_cast<std::uint64_t>(st.st_size);
  got.mtime_ns = ns(st.st_mtim);
  got.ctime_ns = ns(st.st_ctim);
  got.owner = st.st_uid;
  got.mode = st.st_mode;
  const FileIdentity& want = request.expected;
  if (!(got == want) || got.owner != want.owner || got.mode != want.mode)
    fail(Reply::kUnreadable,
         "the process runs another file than the one it was judged by (it execve()d, or the file changed): "
         "nothing read",
         0);
  reply.dev = got.dev;
  reply.ino = got.ino;
  reply.size = got.size;
  reply.mtime_ns = got.mtime_ns;
  reply.ctime_ns = got.ctime_ns;
  reply.owner = got.owner;
  reply.mode = got.mode;
  // The opened file itself, not the path: its super block says what kind of file system it is.
  struct statfs fs {};
  if (request.check_magic) {
    if (fstatfs(fd, &fs) != 0) fail(Reply::kUnreadable, "cannot statfs", errno);
    if (!trusted_fs_magic(static_cast<std::uint64_t>(fs.f_type))) {
      std::snprintf(reply.error, sizeof reply.error,
                    "the executable is on a file system (type 0x%lx) whose owners the kernel cannot vouch for",
                    static_cast<unsigned long>(fs.f_type));
      reply.status = Reply::kFileSystem;
      send_reply(sock, reply, nullptr, 0);
      _exit(0);
    }
  }
  if (request.open_only || (request.skip_non_go && !elf_looks_like_go(fd, got.size))) {
    reply.status = Reply::kNotGo;
    send_reply(sock, reply, &fd, 1);
    _exit(0);
  }
  if (got.size > kMaxExecutableBytes) fail(Reply::kUnreadable, "the executable is larger than 4 GiB: not read", 0);
  const int copy = static_cast<int>(syscall(SYS_memfd_create, "dwcp-observer-exe", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (copy < 0) fail(Reply::kUnreadable, "memfd_create for", errno);
  // The copy has the file's size and only its data: each data extent (SEEK_DATA/SEEK_HOLE; a file
  // system without them reports the whole file as data) is copied to the same offset, so a hole,
  // e.g. a sparse tail, stays a hole in memory too.
  if (ftruncate(copy, static_cast<off_t>(got.size)) != 0) fail(Reply::kUnreadable, "cannot size the copy of", errno);
  std::uint64_t data = 0;
  for (off_t at = 0; static_cast<std::uint64_t>(at) < got.size;) {
    off_t start = lseek(fd, at, SEEK_DATA);
    if (start < 0 && errno == ENXIO) break;  // only a hole is left
    if (start < 0) start = at;               // no SEEK_DATA here: all of it is data
    off_t end = lseek(fd, start, SEEK_HOLE);
    if (end < 0 || static_cast<std::uint64_t>(end) > got.size) end = static_cast<off_t>(got.size);
    data += static_cast<std::uint64_t>(end - start);
    if (data > kMaxExecutableData)
      fail(Reply::kUnreadable, "the executable holds more than 1 GiB of data: not read", 0);
    // read/pwrite, not sendfile: splicing from the 5.10 guests' 9p root is the first suspect of the
    // soft lockups in docs/kernels.md.
    static char buffer[1 << 20];
    off_t offset = start;
    while (offset < end) {
      const std::size_t want = static_cast<std::size_t>(std::min<off_t>(end - offset, sizeof buffer));
      const ssize_t n = pread(fd, buffer, want, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(Reply::kUnreadable, "cannot read", errno);
      if (n == 0) fail(Reply::kUnreadable, "the executable shrank while it was read: nothing read", 0);
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = pwrite(copy, buffer + done, static_cast<std::size_t>(n - done), offset + done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail(Reply::kUnreadable, "cannot copy", errno);
        done += w;
      }
      offset += n;
    }
    at = end;
  }
  fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  reply.status = Reply::kOk;
  reply.copied = 1;
  const int fds[2] = {fd, copy};
  send_reply(sock, reply, fds, 2);
  _exit(0);
}

}  // namespace

Result<Fetched> fetch_executable(const FetchRequest& request, std::atomic<pid_t>* helper) {
  const std::string path = "/proc/" + std::to_string(request.pid) + "/exe";
  // Compiled here, once: the forked helper only loads it (fork of a threaded process).
  if (Result<void> filter = prepare_read_helper_filter(); !filter)
    return Error{"the read helper's seccomp filter: " + filter.error(), filter.failure().code, ErrorKind::kTarget};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return Error::system("socketpair", errno, ErrorKind::kTarget);
  Fd ours(sv[0]), helpers(sv[1]);
  const pid_t pid = fork();
  if (pid < 0) return Error::system("cannot start the read helper", errno, ErrorKind::kTarget);
  if (pid == 0) {
    ours.reset();
    helper_main(helpers.get(), request, path.c_str());
  }
  helper->store(pid);
  helpers.reset();  // the helper's only: its death must end the recvmsg below

  Reply reply;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  iovec iov{&reply, sizeof reply};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  while ((got = recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  ours.reset();
  Fd fds[2];  // the file, and its copy; any more is closed as it is read
  int nfds = 0;
  for (cmsghdr* c = got > 0 ? CMSG_FIRSTHDR(&msg) : nullptr; c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int n = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      Fd received(fd);
      if (nfds < 2) fds[nfds++] = std::move(received);
    }
  }
  // The helper holds a copy of every descriptor of the agent, BPF links included: a link the
  // agent detached meanwhile (BpfSession::retire) is released as the helper exits, which then
  // waits out the uprobes' RCU grace periods (0.5-7 s seen under load). Past recvmsg the helper
  // has answered or died: it is reaped off this thread.
  helper->store(0);
  std::thread([pid] {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }).detach();

  const bool complete = got == static_cast<ssize_t>(sizeof reply) && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
  const int want_fds = !complete ? -1 : reply.status == Reply::kOk ? 2 : reply.status == Reply::kNotGo ? 1 : 0;
  if (!complete || nfds != want_fds)
    return Error{complete ? "the read helper sent a malformed answer" : "the read helper ended without an answer", 0,
                 ErrorKind::kTarget};
  reply.error[sizeof reply.error - 1] = '\0';
  if (reply.status == Reply::kUnreadable || reply.status == Reply::kFileSystem)
    return Error{reply.error, 0,
                 reply.status == Reply::kFileSystem ? ErrorKind::kUntrustedFileSystem : ErrorKind::kTarget};
  FileIdentity identity = request.expected;
  identity.dev = reply.dev;
  identity.ino = reply.ino;
  identity.size = reply.size;
  identity.mtime_ns = reply.mtime_ns;
  identity.ctime_ns = reply.ctime_ns;
  identity.owner = reply.owner;
  identity.mode = reply.mode;
  Fetched out;
  out.file = ExecutableFile::adopt(fds[0].release(), identity);
  if (reply.status == Reply::kOk) out.copy = std::move(fds[1]);
  return out;
}

}  // namespace dwcp::agent
