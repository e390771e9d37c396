// The Go fixtures for the agent's unit tests: their paths, and a fixture process forked, exec'd
// with --wait-signal (so it idles), optionally as another uid; killed and reaped when the object goes.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace dwcp::agent::test_support {

// A fixture binary of the build (CTest sets DWCP_FIXTURE_DIR).
inline std::string fixture(const char* name) {
  const char* dir = std::getenv("DWCP_FIXTURE_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

class Child {
 public:
  explicit Child(const std::string& path, uid_t uid = 0) {
    pid_ = fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      if (uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
      execl(path.c_str(), path.c_str(), "--wait-signal", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Until the exec is done, /proc/PID/exe names the test binary.
    for (int i = 0; i < 500; ++i) {
      char link[4096];
      ssize_t n = readlink(("/proc/" + std::to_string(pid_) + "/exe").c_str(), link, sizeof link);
      if (n > 0 && std::string(link, n) == path) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Child() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace dwcp::agent::test_support
