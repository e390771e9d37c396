// seccomp allow-lists of the agent's three processes (issue 20, docs/security.md "System calls"):
// the agent (after its start-up work, before any target is read), the HTTP process (once it
// serves, with no privilege left) and the read helper (after it opened the executable and dropped
// its capabilities). Each list names the calls the process was seen to make (strace -f of the
// integration suites) plus what glibc, libbpf and OpenSSL may call on a path the suites do not
// take; names are resolved with libseccomp for the running architecture, so one list serves
// amd64 and arm64 (a name the architecture lacks, e.g. `open` on arm64, is skipped).
//
// What a call outside the list gets:
//  - the HTTP process and the read helper: the process is killed (SIGSYS). Both are small,
//    known programs; an unknown call there is an exploit or a bug, and the agent notices either
//    (it exits when the HTTP process dies; a read whose helper died is refused and counted).
//  - the agent: EPERM. It holds the probes on production DWCP; killing it would detach them in
//    the middle of a migration for what may be a harmless call of a library on a rare path (a
//    glibc or libbpf update), while EPERM is reported by the call's own error handling ("...:
//    Operation not permitted") and the agent keeps serving what it has.
#pragma once

#include <vector>

#include "dwcp_observer/result.h"

namespace dwcp::agent {

enum class FilterRole { kAgent, kHttp, kReadHelper };

// The role's allow-list as names (both architectures' names; resolved when applied).
const std::vector<const char*>& allowed_syscalls(FilterRole role);

// `--no-seccomp` (debugging): no process of this agent loads a filter. Call once, before start.
void disable_syscall_filters();
bool syscall_filters_enabled();

// Loads the role's filter into this process, every thread of it (SCMP_FLTATR_CTL_TSYNC), with
// no_new_privs. Not for kReadHelper (see below). The number of calls allowed on this architecture
// (0: filters disabled, nothing loaded).
Result<int> apply_syscall_filter(FilterRole role);

// The read helper is forked from the threaded agent, where only async-signal-safe calls are
// safe: its filter is compiled here, in the parent (once; nothing when filters are disabled)...
Result<void> prepare_read_helper_filter();
// ...and loaded in the child with one prctl. Returns 0, or the errno of the failed load; 0 and
// nothing loaded when the filter was not prepared.
int load_read_helper_filter();

}  // namespace dwcp::agent
