// The capabilities the agent needs, checked up front so that the message names what is missing
// instead of a bare EPERM from deep inside libbpf; and dropped once everything is attached.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "dwcp_observer/result.h"

namespace dwcp::agent {

// Names of the needed capabilities that the effective set lacks (empty: all there).
// CAP_BPF + CAP_PERFMON load programs and attach uprobes/tracepoints (CAP_SYS_ADMIN covers both);
// CAP_SYS_PTRACE reads /proc/PID/exe of another user's process.
std::vector<std::string> missing_capabilities();

// The unprivileged identity the agent runs as after attach (--user/--group).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // "nobody:nogroup (65534:65534)", for the log
};

// --user/--group; empty: the `dwcp-observer` system user (and its primary group) when it exists,
// else nobody/nogroup, else 65534:65534. An error (kUsage) when a named user or group is unknown.
Result<RunAs> resolve_run_as(const std::string& user, const std::string& group);

// What the agent still needs once the BPF programs are loaded and the first targets attached.
struct CapabilityNeeds {
  // A target may come back (--follow, --comm, --exe): attaching uprobes to a new process needs
  // CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on kernels older than 5.8, which lack them).
  bool reattach = false;
  // Re-attaching goes through perf_event_open (classic uprobes, no uprobe_multi links). Debian's and
  // Ubuntu's kernels add a kernel.perf_event_paranoid level 3 (their default) under which
  // perf_event_open needs CAP_SYS_ADMIN whatever CAP_PERFMON says: then CAP_SYS_ADMIN is kept too.
  bool reattach_opens_perf_events = false;
  // --listen on a port below 1024 (the HTTP server binds after this drop).
  bool privileged_port = false;
  // Switch to this uid/gid (supplementary groups dropped) keeping the capabilities above: the
  // agent stops being root. Ignored when it is uid 0, or when the agent lacks CAP_SETUID/CAP_SETGID
  // (started as a non-root user with file capabilities: it keeps that user).
  std::optional<RunAs> run_as;
};

// Keeps only `needs` plus CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (the lifecycle check reads
// /proc/PID/exe of targets owned by other users, and the binary behind it) in the effective,
// permitted and bounding sets, clears the inheritable and ambient sets and sets no_new_privs,
// so that a bug in the HTTP path cannot load programs or regain what was dropped.
//
// Capabilities belong to threads: call this while the process has a single thread (before the
// HTTP server and the consumer thread start), so that every later thread inherits the reduced
// sets. Returns the names of what stays effective, or says why the sets could not be changed.
Result<std::vector<std::string>> drop_capabilities_after_attach(const CapabilityNeeds& needs);

// The HTTP process (agent/http_child.h), in two steps around starting its server:
// prepare_unprivileged() before (empty bounding, inheritable and ambient sets, no_new_privs:
// every thread started later inherits them; when it cannot change uid it also drops every
// capability now), become_unprivileged() after it has bound and read its TLS files: setgroups(0),
// setresgid, setresuid for every thread (glibc applies them to all threads; the kernel clears the
// permitted and effective sets of each on leaving uid 0), and checks that no capability is left.
Result<void> prepare_unprivileged();
Result<void> become_unprivileged(const RunAs& run_as);

// "uid=65534 gid=65534 groups=0 CapEff=0000000000000000": the calling thread's state, for the log.
std::string describe_credentials();

}  // namespace dwcp::agent
