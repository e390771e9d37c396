// The seccomp allow-lists (agent/syscall_filter.h): every name is a system call of amd64 or arm64
// (a typo would silently allow nothing), and a forked child under each role's filter is refused a
// call outside its list: killed (SIGSYS) as the HTTP process or the read helper, EPERM as the
// agent, in every thread of it; an allowed call still works.
#include "agent/syscall_filter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

namespace dwcp::agent {
namespace {

// Runs `body` in a forked child; its wait status. The child's exit code is body's result.
int in_child(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

bool killed_by_sigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }
bool exited_zero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// open/read, no iostream: it runs under the agent's filter, where UBSan's check of a stream's
// virtual base needs calls the list refuses (the sanitizer tier failed on std::ifstream here).
std::string seccomp_mode(const std::string& status_path) {
  char buf[8192];
  const int fd = open(status_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return "";
  buf[n] = '\0';
  const char* at = std::strstr(buf, "\nSeccomp:");
  if (!at) return "";
  at += std::strlen("\nSeccomp:");
  while (*at == ' ' || *at == '\t') ++at;
  return std::string(at, std::strcspn(at, "\n"));
}

TEST(SyscallFilter, EveryNameIsACallOfAmd64OrArm64) {
  for (FilterRole role : {FilterRole::kAgent, FilterRole::kHttp, FilterRole::kReadHelper}) {
    ASSERT_FALSE(allowed_syscalls(role).empty());
    for (const char* name : allowed_syscalls(role))
      EXPECT_TRUE(seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name) >= 0 ||
                  seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, name) >= 0)
          << name;
  }
}

TEST(SyscallFilter, NoRoleMayExecOrPtrace) {
  for (FilterRole role : {FilterRole::kAgent, FilterRole::kHttp, FilterRole::kReadHelper})
    for (const std::string name : allowed_syscalls(role))
      EXPECT_TRUE(name != "execve" && name != "execveat" && name != "ptrace" && name != "socket") << name;
}

TEST(SyscallFilter, HttpProcessIsKilledByExecveAndKeepsServingOtherwise) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int status = in_child([&] {
    if (!apply_syscall_filter(FilterRole::kHttp)) return 10;
    if (write(pipe_fds[1], "x", 1) != 1) return 11;  // an allowed call
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    execve("/bin/true", argv, environ);
    return 12;  // execve returned: not refused
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << "wait status " << status;
  char got = 0;
  EXPECT_EQ(read(pipe_fds[0], &got, 1), 1);
  EXPECT_EQ(got, 'x');
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  // A new socket (it serves only on the ones it bound before), a new process: killed too.
  EXPECT_TRUE(killed_by_sigsys(in_child([] {
    if (!apply_syscall_filter(FilterRole::kHttp)) return 10;
    socket(AF_INET, SOCK_STREAM, 0);
    return 12;
  })));
  EXPECT_TRUE(killed_by_sigsys(in_child([] {
    if (!apply_syscall_filter(FilterRole::kHttp)) return 10;
    if (fork() == 0) _exit(0);
    return 12;
  })));
}

TEST(SyscallFilter, ReadHelperIsKilledByACallOutsideItsCopy) {
  ASSERT_TRUE(prepare_read_helper_filter());
  const int status = in_child([] {
    if (load_read_helper_filter() != 0) return 10;
    // What the helper does: lseek, pread, memfd_create; then what it never does: open a file.
    if (lseek(0, 0, SEEK_CUR) < 0 && errno != ESPIPE) return 11;
    open("/etc/hostname", O_RDONLY);
    return 12;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << "wait status " << status;
}

TEST(SyscallFilter, AgentGetsEpermInEveryThreadAndStaysAlive) {
  const int status = in_child([] {
    // A thread that exists before the filter is loaded gets it too (TSYNC).
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) return 9;
    // A bare pthread, not std::thread: UBSan's check of std::thread's virtual _State at the
    // thread's end needs calls the agent's list refuses (the sanitizer build failed on it).
    struct Shared {
      int ready_w, go_r;
      int result = -1;
    } shared{ready[1], go[0]};
    pthread_t other;
    auto body = [](void* arg) -> void* {
      auto* sh = static_cast<Shared*>(arg);
      char c;
      if (write(sh->ready_w, "r", 1) != 1 || read(sh->go_r, &c, 1) != 1) return nullptr;
      errno = 0;
      sh->result = ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == -1 && errno == EPERM ? 0 : 1;
      return nullptr;
    };
    if (pthread_create(&other, nullptr, body, &shared) != 0) return 8;
    char c;
    if (read(ready[0], &c, 1) != 1) return 10;
    if (!apply_syscall_filter(FilterRole::kAgent)) return 11;
    if (write(go[1], "g", 1) != 1) return 12;
    pthread_join(other, nullptr);
    if (shared.result != 0) return 13;
    errno = 0;
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    if (execve("/bin/true", argv, environ) != -1 || errno != EPERM) return 14;
    if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != EPERM) return 15;
    // /proc reads are the agent's daily work: still allowed, and they show the filter.
    if (seccomp_mode("/proc/self/status") != "2") return 16;
    return 0;
  });
  EXPECT_TRUE(exited_zero(status)) << "wait status " << status
                                   << (WIFEXITED(status) ? " exit " + std::to_string(WEXITSTATUS(status)) : "");
}

TEST(SyscallFilter, DisabledLoadsNothing) {
  const int status = in_child([] {
    disable_syscall_filters();
    if (!apply_syscall_filter(FilterRole::kHttp)) return 10;
    if (!prepare_read_helper_filter() || load_read_helper_filter() != 0) return 11;
    return seccomp_mode("/proc/self/status") == "0" ? 0 : 12;
  });
  EXPECT_TRUE(exited_zero(status)) << "wait status " << status;
}

}  // namespace
}  // namespace dwcp::agent
