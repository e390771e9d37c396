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
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// Highest capability number we know of (CAP_CHECKPOINT_RESTORE, 40); the bounding-set loop
// stops at the first number the kernel does not know.
constexpr int kLastKnownCap = 40;

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

const char* cap_name(int cap) {
  switch (cap) {
    case CAP_SYS_PTRACE: return "CAP_SYS_PTRACE";
    case CAP_DAC_READ_SEARCH: return "CAP_DAC_READ_SEARCH";
    case CAP_BPF: return "CAP_BPF";
    case CAP_PERFMON: return "CAP_PERFMON";
    case CAP_SYS_ADMIN: return "CAP_SYS_ADMIN";
    case CAP_NET_BIND_SERVICE: return "CAP_NET_BIND_SERVICE";
  }
  return "CAP_?";
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

bool drop_capabilities_after_attach(const CapabilityNeeds& needs, std::vector<std::string>* kept,
                                    std::string* error) {
  CapSets sets{};
  if (!read_caps(&sets)) {
    *error = std::string("capget: ") + std::strerror(errno);
    return false;
  }
  std::vector<int> keep = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
  if (needs.reattach) {
    keep.push_back(CAP_BPF);
    keep.push_back(CAP_PERFMON);
    // Kernels before 5.8 (no CAP_BPF/CAP_PERFMON) check CAP_SYS_ADMIN instead.
    if (!has_effective(sets, CAP_BPF) || !has_effective(sets, CAP_PERFMON)) keep.push_back(CAP_SYS_ADMIN);
  }
  if (needs.privileged_port) keep.push_back(CAP_NET_BIND_SERVICE);

  __user_cap_data_struct next[2]{};
  kept->clear();
  for (int cap : keep) {
    if (!has_effective(sets, cap)) continue;
    next[cap / 32].effective |= 1u << (cap % 32);
    next[cap / 32].permitted |= 1u << (cap % 32);
    kept->push_back(cap_name(cap));
  }
  // The bounding set limits what an execve() could ever grant again; changing it needs
  // CAP_SETPCAP, which a setcap'd binary does not have: best effort, before CAP_SETPCAP goes.
  if (has_effective(sets, CAP_SETPCAP)) {
    for (int cap = 0; cap <= kLastKnownCap; ++cap) {
      if (next[cap / 32].permitted & (1u << (cap % 32))) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;  // unknown to this kernel
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  if (syscall(SYS_capset, &header, next) != 0) {
    *error = std::string("capset: ") + std::strerror(errno);
    return false;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *error = std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace dwcp::agent
