#include "agent/privilege.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dwcp::agent {
namespace {

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct CapSets {
  __user_cap_data_struct data[2];
};

bool read_caps(CapSets* sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &header, sets->data) == 0;
}

bool has_effective(const CapSets& sets, int cap) {
  return sets.data[cap / 32].effective & (1u << (cap % 32));
}

}  // namespace

std::vector<std::string> missing_capabilities() {
  CapSets sets{};
  if (!read_caps(&sets)) return {"(cannot read capabilities: " + std::string(std::strerror(errno)) + ")"};
  std::vector<std::string> missing;
  bool admin = has_effective(sets, CAP_SYS_ADMIN);
  if (!admin && !has_effective(sets, CAP_BPF)) missing.push_back("CAP_BPF");
  if (!admin && !has_effective(sets, CAP_PERFMON)) missing.push_back("CAP_PERFMON");
  if (!has_effective(sets, CAP_SYS_PTRACE)) missing.push_back("CAP_SYS_PTRACE");
  return missing;
}

bool drop_capabilities_after_attach(std::string* error) {
  CapSets sets{};
  if (!read_caps(&sets)) {
    *error = std::string("capget: ") + std::strerror(errno);
    return false;
  }
  // Keep CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (target lifecycle reads /proc/PID of the target
  // and of its successor with --follow) and CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN only if re-attaching
  // may be needed; the caller decides by calling this only when no re-attach can happen.
  const int keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
  __user_cap_data_struct next[2]{};
  for (int cap : keep) {
    if (has_effective(sets, cap)) {
      next[cap / 32].effective |= 1u << (cap % 32);
      next[cap / 32].permitted |= 1u << (cap % 32);
    }
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  if (syscall(SYS_capset, &header, next) != 0) {
    *error = std::string("capset: ") + std::strerror(errno);
    return false;
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return true;
}

}  // namespace dwcp::agent
