// What the agent needs to know about a target process, read from /proc, with errors that say
// what is wrong and what to do.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dwcp::agent {

struct ProcessInfo {
  int pid = 0;
  std::string comm;         // /proc/PID/comm
  std::string exe_link;     // readlink(/proc/PID/exe), as the process sees it (maybe in a container)
  std::string binary_path;  // path the agent opens and attaches to: /proc/PID/exe, which reaches the
                            // file through the process's own mount namespace (containers too)
  std::uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  dev_t exe_dev = 0;
  ino_t exe_ino = 0;
};

// Returns the process or sets *error (no such PID, zombie, kernel thread, the agent itself, no
// permission to read its /proc entries).
std::optional<ProcessInfo> inspect_process(int pid, std::string* error);

// True while `info` still names the same live process running the same program: same PID and
// start time, not a zombie, and (where /proc/PID/exe is readable) the same executable file.
// A process that called execve() keeps its PID and start time but runs another binary: the
// probes on the old file no longer fire, so it must be resolved again.
bool same_process_alive(const ProcessInfo& info);

// The newest live process whose comm equals `comm` or whose executable path equals `exe`,
// skipping the PIDs in `exclude` (processes other targets already observe).
std::optional<int> find_process(const std::string& comm, const std::string& exe,
                                const std::vector<int>& exclude = {});

}  // namespace dwcp::agent
