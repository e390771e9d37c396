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

// After attaching: keep only what scraping needs (reading BPF maps through fds we already hold
// needs none), so a bug in the HTTP path cannot load programs. Best effort; returns false and
// says why on failure.
bool drop_capabilities_after_attach(std::string* error);

}  // namespace dwcp::agent
