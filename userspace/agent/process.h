// What the agent needs to know about a target process, read from /proc, with errors that say
// what is wrong and what to do. Everything here reads /proc only: nothing opens the target's
// executable (that may block on a stalled file system; see agent/executable_loader.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/executable.h"

namespace dwcp::agent {

// The uids of a process, from /proc/PID/status.
struct ProcessCredentials {
  uid_t real = 0;
  uid_t effective = 0;
};

struct ProcessInfo {
  int pid = 0;
  std::string comm;              // from /proc/PID/stat (raw: may hold any byte but NUL; escape to log it)
  std::string exe_path;          // readlink(/proc/PID/exe), raw, as the process sees it (maybe in a container)
  std::string exe_link;          // the same, escaped for logs (escape_for_log)
  std::string binary_path;       // path the agent reads and attaches through: /proc/PID/exe until the
                                 // executable is pinned, then "/proc/self/fd/N" of `executable`
  std::uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  FileIdentity exe;              // the executable as /proc/PID/exe showed it (statx, no file system I/O)
  ProcessCredentials creds;
  // The executable, opened once; set when the agent attached (the probes live on this inode).
  std::shared_ptr<const ExecutableFile> executable;
};

// The fields of /proc/PID/stat the agent uses.
struct StatFields {
  std::string comm;  // between the first '(' and the LAST ')': comm may hold ')', spaces, newlines
  char state = '?';
  unsigned flags = 0;
  std::uint64_t utime_ticks = 0;  // user and system CPU time of all its threads, in clock ticks
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_time = 0;
};
std::optional<StatFields> parse_stat(std::string_view text);
// utime + stime of the whole process (all threads) from /proc/PID/stat, in seconds; nullopt when
// the process is gone (or its stat line unreadable): the budget then skips it for the interval.
std::optional<double> process_cpu_seconds(int pid);
// Real and effective uid from the text of /proc/PID/status.
std::optional<ProcessCredentials> parse_status_uids(std::string_view text);

// `text` fit for one log line: printable ASCII as is, `\` as `\\`, every other byte (newline,
// escape sequences, non-ASCII) as \xNN, cut at `max_bytes` input bytes with "...".
std::string escape_for_log(std::string_view text, std::size_t max_bytes = 256);

// The process, or why it cannot be observed (kTarget: no such PID, zombie, kernel thread, the
// agent itself, no permission to read its /proc entries).
Result<ProcessInfo> inspect_process(int pid);

// True while `info` still names the same live process running the same program: same PID and
// start time, not a zombie, and the same executable inode (the pinned one once attached).
// A process that called execve() keeps its PID and start time but runs another binary: the
// probes on the old file no longer fire, so it must be resolved again.
bool same_process_alive(const ProcessInfo& info);
// The check after attaching: like same_process_alive, but an executable that cannot be looked at
// right now (the moment of an execve() of a multi-threaded process, or of its exit) is a failure.
bool still_runs_pinned_file(const ProcessInfo& info);

// Live processes whose comm equals `comm` or whose executable path equals `exe`, newest first,
// skipping the PIDs in `exclude` (processes other targets already observe).
std::vector<int> find_processes(const std::string& comm, const std::string& exe, const std::vector<int>& exclude = {});

// Every numeric entry of /proc but the agent itself, unsorted.
std::vector<int> list_pids();

}  // namespace dwcp::agent
