#include "agent/syscall_filter.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "dwcp_observer/fd.h"

namespace dwcp::agent {
namespace {

std::atomic<bool> g_enabled{true};

// The lists and the helper's program below are never destroyed: a reader thread left waiting on a
// stalled file system (executable_loader.cpp) may still build or load a filter while the process exits.

// What the agent and the HTTP process call through glibc and libstdc++: memory, threads (a new
// thread registers rseq and its robust list itself, possibly after the filter is in place), time
// (the vDSO's fallbacks), signals, descriptors.
#define DWCP_RUNTIME_CALLS                                                                                            \
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "set_robust_list", "rseq", "exit", "exit_group", \
      "sched_yield", "sched_getaffinity", "gettid", "getpid", "getppid", "tgkill", "restart_syscall", "rt_sigaction", \
      "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime", "clock_getres", "gettimeofday", "nanosleep",  \
      "clock_nanosleep", "getrandom", "getuid", "geteuid", "getgid", "getegid", "read", "write", "readv", "writev",   \
      "close", "fstat", "newfstatat", "statx", "lseek", "fcntl"

// The agent once it serves: /proc and the targets' memory, the BPF object's maps and ring
// buffer, attach and detach (bpf links; classic uprobes through perf_event_open and its ioctls,
// libbpf's tracefs checks), the read helper's fork (clone) and its descriptors, new threads
// (clone3 first, clone where it is refused), the channel to the HTTP process, the privilege drop
// after the first attach, shutdown (SIGKILL to the HTTP process, wait4).
// Not here, among others: execve/execveat (the HTTP process is started before the filter),
// ptrace, socket/connect/bind/listen, mount, unshare/setns, module and key calls.
const std::vector<const char*>& kAgent = *new std::vector<const char*>{
    DWCP_RUNTIME_CALLS,
    // files and /proc
    "openat", "pread64", "pwrite64", "fstatfs", "statfs", "readlink", "readlinkat", "getdents64", "access", "faccessat",
    "faccessat2", "ioctl",
    // processes, threads, the targets' memory
    "clone", "clone3", "process_vm_readv", "kill", "wait4", "uname", "sysinfo", "prlimit64", "getrlimit", "getgroups",
    "getresuid", "getresgid",
    // BPF, probes, the ring buffer's epoll
    "bpf", "perf_event_open", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "poll", "ppoll",
    // the HTTP process's socketpair; the read helper's socketpair, descriptors, copy and filter
    "socketpair", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "close_range", "memfd_create", "ftruncate",
    "prctl", "seccomp",
    // the switch to --user and the capability drop after attach (glibc's setxid reaches every
    // thread with a signal, tgkill above)
    "capget", "capset", "setgroups", "setresuid", "setresgid"};

// The HTTP process once it serves (its threads, epoll instance and eventfd all exist by then): the
// epoll loop, client sockets (accept4 on the listening ones it bound before), TLS files re-read on
// SIGHUP or when they change (stat at each accept), glibc's /proc/sys/vm/overcommit_memory when
// malloc trims an arena, the password pool's nice value (each pool thread sets its own, maybe
// after the filter), SIGHUP via sigwait.
// Not here: clone/clone3 (no new thread, no process), socket/bind/listen/connect (bound before),
// execve, ptrace, setuid calls.
const std::vector<const char*>& kHttp =
    *new std::vector<const char*>{DWCP_RUNTIME_CALLS,
                                  // the TLS files
                                  "openat",
                                  // the epoll loop and its clients
                                  "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown", "setsockopt",
                                  "getsockopt", "getsockname", "epoll_ctl", "epoll_wait", "epoll_pwait",
                                  // SIGHUP, the password pool, the connection cap's descriptor limit
                                  "rt_sigtimedwait", "setpriority", "getrlimit", "prlimit64"};

// The read helper after it opened /proc/PID/exe and dropped every capability: stat the file and
// its file system, read the ELF header, copy the data into a sealed memfd, send both, exit.
// malloc for the ELF sniff and strerror's message. rt_sigreturn: the agent's SIGTERM handler, inherited
// through fork, returns through it.
const std::vector<const char*>& kReadHelper = *new std::vector<const char*>{
    // the opened file and the copy
    "fstat", "newfstatat", "statx", "fstatfs", "read", "pread64", "lseek", "memfd_create", "ftruncate", "pwrite64",
    "fcntl", "sendmsg", "close",
    // malloc (a thread arena grows with mprotect), signals, the end
    "brk", "mmap", "munmap", "mprotect", "madvise", "rt_sigreturn", "restart_syscall", "exit", "exit_group"};

#undef DWCP_RUNTIME_CALLS

// The role's filter, built but not loaded (the caller releases it), and the number of calls it
// allows on this architecture.
Result<scmp_filter_ctx> build(FilterRole role, int* allowed = nullptr) {
  const std::uint32_t deny = role == FilterRole::kAgent ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_KILL_PROCESS;
  scmp_filter_ctx ctx = seccomp_init(deny);
  if (ctx == nullptr) return Error{"seccomp_init failed"};
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  // The agent and the HTTP process have threads: one filter for all of them, or none.
  if (rc == 0 && role != FilterRole::kReadHelper) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  for (const char* name : allowed_syscalls(role)) {
    if (rc != 0) break;
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) continue;  // not a call of this architecture (e.g. open, stat on arm64)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (allowed != nullptr) ++*allowed;
  }
  if (rc != 0) {
    seccomp_release(ctx);
    return Error::system("seccomp filter", -rc);
  }
  return ctx;
}

std::once_flag g_helper_once;
std::vector<sock_filter>& g_helper_program = *new std::vector<sock_filter>;
Error& g_helper_error = *new Error;

}  // namespace

const std::vector<const char*>& allowed_syscalls(FilterRole role) {
  switch (role) {
    case FilterRole::kAgent:
      return kAgent;
    case FilterRole::kHttp:
      return kHttp;
    case FilterRole::kReadHelper:
      break;
  }
  return kReadHelper;
}

void disable_syscall_filters() { g_enabled.store(false); }
bool syscall_filters_enabled() { return g_enabled.load(); }

Result<int> apply_syscall_filter(FilterRole role) {
  if (!syscall_filters_enabled()) return 0;
  int allowed = 0;
  Result<scmp_filter_ctx> ctx = build(role, &allowed);
  if (!ctx) return ctx.failure();
  const int rc = seccomp_load(*ctx);
  seccomp_release(*ctx);
  if (rc != 0) return Error::system("seccomp_load", -rc);
  return allowed;
}

Result<void> prepare_read_helper_filter() {
  if (!syscall_filters_enabled()) return {};
  std::call_once(g_helper_once, [] {
    Result<scmp_filter_ctx> ctx = build(FilterRole::kReadHelper);
    if (!ctx) {
      g_helper_error = ctx.failure();
      return;
    }
    // libseccomp writes the compiled program to a descriptor; read it back into memory.
    const Fd fd(memfd_create("dwcp-observer-seccomp", MFD_CLOEXEC));
    int rc = !fd ? -errno : seccomp_export_bpf(*ctx, fd.get());
    seccomp_release(*ctx);
    const off_t size = rc == 0 ? lseek(fd.get(), 0, SEEK_END) : -1;
    std::vector<sock_filter> program(size > 0 ? static_cast<std::size_t>(size) / sizeof(sock_filter) : 0);
    if (size > 0 && pread(fd.get(), program.data(), program.size() * sizeof(sock_filter), 0) ==
                        static_cast<ssize_t>(program.size() * sizeof(sock_filter)))
      g_helper_program = std::move(program);
    else
      g_helper_error = rc != 0 ? Error::system("seccomp_export_bpf", -rc) : Error{"seccomp_export_bpf: no program"};
  });
  if (g_helper_program.empty()) return g_helper_error;
  return {};
}

int load_read_helper_filter() {
  if (!syscall_filters_enabled() || g_helper_program.empty()) return 0;
  sock_fprog prog{static_cast<unsigned short>(g_helper_program.size()), g_helper_program.data()};
  // no_new_privs (the agent set it with its own filter, the helper again when it dropped its
  // capabilities) lets an unprivileged process load a filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace dwcp::agent
