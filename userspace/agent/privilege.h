// The capabilities the agent needs, checked up front so that the message names what is missing
// instead of a bare EPERM from deep inside libbpf; and dropped once everything is attached.
#pragma once

#include <string>
#include <vector>

namespace dwcp::agent {

// Names of the needed capabilities that the effective set lacks (empty: all there).
// CAP_BPF + CAP_PERFMON load programs and attach uprobes/tracepoints (CAP_SYS_ADMIN covers both);
// CAP_SYS_PTRACE reads /proc/PID/exe of another user's process.
std::vector<std::string> missing_capabilities();

// What the agent still needs once the BPF programs are loaded and the first targets attached.
struct CapabilityNeeds {
  // A target may come back (--follow, --comm, --exe): attaching uprobes to a new process needs
  // CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on kernels older than 5.8, which lack them).
  bool reattach = false;
  // --listen on a port below 1024 (the HTTP server binds after this drop).
  bool privileged_port = false;
};

// Keeps only `needs` plus CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (the lifecycle check reads
// /proc/PID/exe of targets owned by other users, and the binary behind it) in the effective,
// permitted and bounding sets, clears the inheritable and ambient sets and sets no_new_privs,
// so that a bug in the HTTP path cannot load programs or regain what was dropped.
//
// Capabilities belong to threads: call this while the process has a single thread (before the
// HTTP server and the consumer thread start), so that every later thread inherits the reduced
// sets. Returns false and says why when the sets could not be changed; *kept lists the names of
// what stays effective.
bool drop_capabilities_after_attach(const CapabilityNeeds& needs, std::vector<std::string>* kept,
                                    std::string* error);

}  // namespace dwcp::agent
