#include "agent/privilege.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

bool has_effective(const CapSets& sets, int cap) { return sets.data[cap / 32].effective & (1u << (cap % 32)); }

const char* cap_name(int cap) {
  switch (cap) {
    case CAP_SYS_PTRACE:
      return "CAP_SYS_PTRACE";
    case CAP_DAC_READ_SEARCH:
      return "CAP_DAC_READ_SEARCH";
    case CAP_BPF:
      return "CAP_BPF";
    case CAP_PERFMON:
      return "CAP_PERFMON";
    case CAP_SYS_ADMIN:
      return "CAP_SYS_ADMIN";
    case CAP_NET_BIND_SERVICE:
      return "CAP_NET_BIND_SERVICE";
  }
  return "CAP_?";
}

Result<void> write_caps(const __user_cap_data_struct (&next)[2]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct copy[2] = {next[0], next[1]};
  if (syscall(SYS_capset, &header, copy) == 0) return {};
  return Error::system("capset");
}

// Bounding set: limits what an execve() could ever grant again. Changing it needs CAP_SETPCAP,
// which a setcap'd binary does not have: best effort, before CAP_SETPCAP goes.
void drop_bounding_except(const __user_cap_data_struct (&keep)[2], const CapSets& sets) {
  if (!has_effective(sets, CAP_SETPCAP)) return;
  for (int cap = 0; cap <= kLastKnownCap; ++cap) {
    if (keep[cap / 32].permitted & (1u << (cap % 32))) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;  // unknown to this kernel
  }
}

// setgroups(0), setresgid, setresuid: glibc applies each to every thread of the process.
Result<void> switch_ids(const RunAs& run_as) {
  if (setgroups(0, nullptr) != 0) return Error::system("setgroups");
  if (setresgid(run_as.gid, run_as.gid, run_as.gid) != 0)
    return Error::system("setresgid(" + std::to_string(run_as.gid) + ")");
  if (setresuid(run_as.uid, run_as.uid, run_as.uid) != 0)
    return Error::system("setresuid(" + std::to_string(run_as.uid) + ")");
  // A way back would make the switch pointless: uid 0 must be out of reach now.
  if (setresuid(0, 0, 0) == 0 || getuid() != run_as.uid || geteuid() != run_as.uid)
    return Error{"uid 0 is still reachable after setresuid(" + std::to_string(run_as.uid) + ")"};
  return {};
}

// kernel.perf_event_paranoid, or 2 (mainline's highest level) when unreadable.
int perf_event_paranoid() {
  int level = 2;
  if (FILE* f = std::fopen("/proc/sys/kernel/perf_event_paranoid", "r")) {
    if (std::fscanf(f, "%d", &level) != 1) level = 2;
    std::fclose(f);
  }
  return level;
}

bool can_switch_ids(const CapSets& sets) { return has_effective(sets, CAP_SETUID) && has_effective(sets, CAP_SETGID); }

}  // namespace

Result<RunAs> resolve_run_as(const std::string& user, const std::string& group) {
  RunAs run_as{65534, 65534, ""};
  std::string user_name = "65534", group_name = "65534";
  // getpwnam/getgrnam: called once, at start, from one thread.
  const passwd* pw = nullptr;
  if (!user.empty()) {
    pw = getpwnam(user.c_str());
    if (pw == nullptr && user.find_first_not_of("0123456789") == std::string::npos && user.size() < 10)
      pw = getpwuid(static_cast<uid_t>(std::stoul(user)));
    if (pw == nullptr) return Error{"--user " + user + ": no such user", 0, ErrorKind::kUsage};
  } else {
    pw = getpwnam("dwcp-observer");
    if (pw == nullptr) pw = getpwnam("nobody");
  }
  if (pw != nullptr) {
    run_as.uid = pw->pw_uid;
    run_as.gid = pw->pw_gid;
    user_name = pw->pw_name;
  }
  const struct group* gr = nullptr;
  if (!group.empty()) {
    gr = getgrnam(group.c_str());
    if (gr == nullptr && group.find_first_not_of("0123456789") == std::string::npos && group.size() < 10)
      gr = getgrgid(static_cast<gid_t>(std::stoul(group)));
    if (gr == nullptr) return Error{"--group " + group + ": no such group", 0, ErrorKind::kUsage};
  } else if (user.empty() && pw != nullptr && std::string(pw->pw_name) == "nobody") {
    // Debian's nobody has group nogroup (65534); name it so the log says so.
    gr = getgrnam("nogroup");
  } else {
    gr = getgrgid(run_as.gid);
  }
  if (gr != nullptr) {
    run_as.gid = gr->gr_gid;
    group_name = gr->gr_name;
  }
  run_as.name =
      user_name + ":" + group_name + " (" + std::to_string(run_as.uid) + ":" + std::to_string(run_as.gid) + ")";
  return run_as;
}

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

Result<std::vector<std::string>> drop_capabilities_after_attach(const CapabilityNeeds& needs) {
  CapSets sets{};
  if (!read_caps(&sets)) return Error::system("capget");
  std::vector<int> keep = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
  if (needs.reattach) {
    keep.push_back(CAP_BPF);
    keep.push_back(CAP_PERFMON);
    // Kernels before 5.8 (no CAP_BPF/CAP_PERFMON) check CAP_SYS_ADMIN instead.
    if (!has_effective(sets, CAP_BPF) || !has_effective(sets, CAP_PERFMON) ||
        (needs.reattach_opens_perf_events && perf_event_paranoid() > 2))
      keep.push_back(CAP_SYS_ADMIN);
  }
  if (needs.privileged_port) keep.push_back(CAP_NET_BIND_SERVICE);

  __user_cap_data_struct next[2]{};
  std::vector<std::string> kept;
  for (int cap : keep) {
    if (!has_effective(sets, cap)) continue;
    next[cap / 32].effective |= 1u << (cap % 32);
    next[cap / 32].permitted |= 1u << (cap % 32);
    kept.push_back(cap_name(cap));
  }
  drop_bounding_except(next, sets);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (needs.run_as && needs.run_as->uid != 0 && can_switch_ids(sets)) {
    // Keep the permitted set across the uid change (the kernel would clear it on leaving uid 0):
    // only for this thread's switch, then locked off again. Threads that exist already (a read
    // given up on) lose every capability with the switch; new ones inherit this thread's sets.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Error::system("prctl(PR_SET_KEEPCAPS)");
    if (Result<void> switched = switch_ids(*needs.run_as); !switched) return switched.failure();
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  if (Result<void> written = write_caps(next); !written) return written.failure();
  // Holding CAP_SYS_PTRACE: no core dump, no ptrace by processes of the same uid (the HTTP
  // process runs as that uid too), /proc/self stays root-owned.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::system("prctl(PR_SET_NO_NEW_PRIVS)");
  return kept;
}

Result<void> prepare_unprivileged() {
  CapSets sets{};
  if (!read_caps(&sets)) return Error::system("capget");
  __user_cap_data_struct none[2]{};
  drop_bounding_except(none, sets);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  // Keep what binding and reading the TLS files need (the uid switch clears it); no inheritable.
  __user_cap_data_struct next[2] = {sets.data[0], sets.data[1]};
  next[0].inheritable = next[1].inheritable = 0;
  if (!can_switch_ids(sets)) next[0] = next[1] = __user_cap_data_struct{};
  if (Result<void> written = write_caps(next); !written) return written;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::system("prctl(PR_SET_NO_NEW_PRIVS)");
  return {};
}

Result<void> become_unprivileged(const RunAs& run_as) {
  CapSets sets{};
  if (!read_caps(&sets)) return Error::system("capget");
  if (can_switch_ids(sets) && run_as.uid != 0)
    if (Result<void> switched = switch_ids(run_as); !switched) return switched;
  __user_cap_data_struct none[2]{};
  if (Result<void> written = write_caps(none); !written) return written;
  if (!read_caps(&sets)) return Error::system("capget");
  for (const auto& half : sets.data)
    if (half.effective != 0 || half.permitted != 0 || half.inheritable != 0)
      return Error{"capabilities left after the drop"};
  return {};
}

std::string describe_credentials() {
  CapSets sets{};
  char caps[32] = "?";
  if (read_caps(&sets)) std::snprintf(caps, sizeof(caps), "%08x%08x", sets.data[1].effective, sets.data[0].effective);
  return "uid=" + std::to_string(getuid()) + " gid=" + std::to_string(getgid()) +
         " groups=" + std::to_string(getgroups(0, nullptr)) + " CapEff=" + caps;
}

}  // namespace dwcp::agent
