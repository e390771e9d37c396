#include "agent/process.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dwcp::agent {
namespace {

std::string proc_path(int pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

bool read_first_line(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, *out);
  return true;
}

// /proc/PID/stat: "pid (comm) state ppid ... starttime(22) ..."; comm may contain spaces and
// parentheses, so parse from the last ')'.
bool read_stat(int pid, char* state, std::uint64_t* start_time, unsigned* flags) {
  std::string line;
  if (!read_first_line(proc_path(pid, "stat"), &line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // Fields after comm start at 3 (state); flags is 9, starttime is 22.
  for (int index = 3; rest >> field; ++index) {
    if (index == 3) *state = field[0];
    if (index == 9) *flags = static_cast<unsigned>(std::stoul(field));
    if (index == 22) {
      *start_time = std::stoull(field);
      return true;
    }
  }
  return false;
}

constexpr unsigned kPfKthread = 0x00200000;

}  // namespace

std::optional<ProcessInfo> inspect_process(int pid, std::string* error) {
  if (pid <= 0) {
    *error = "invalid PID " + std::to_string(pid) + ": give the PID of a running DWCP process (e.g. `pgrep -f dwcp`)";
    return std::nullopt;
  }
  if (pid == getpid()) {
    *error = "PID " + std::to_string(pid) + " is dwcp-observer itself: give the PID of the DWCP process";
    return std::nullopt;
  }
  ProcessInfo info;
  info.pid = pid;
  char state = '?';
  unsigned flags = 0;
  if (!read_stat(pid, &state, &info.start_time, &flags)) {
    *error = "no process with PID " + std::to_string(pid) +
             " (it may have exited): check the PID with `pgrep -f dwcp`, or use --comm/--exe with --follow";
    return std::nullopt;
  }
  if (state == 'Z' || state == 'X') {
    *error = "process " + std::to_string(pid) +
             " is a zombie (it exited and was not reaped yet): there is no program left to observe";
    return std::nullopt;
  }
  if (flags & kPfKthread) {
    *error = "process " + std::to_string(pid) + " is a kernel thread: it has no user-space binary to probe";
    return std::nullopt;
  }
  read_first_line(proc_path(pid, "comm"), &info.comm);
  info.binary_path = proc_path(pid, "exe");
  char link[4096];
  ssize_t n = readlink(info.binary_path.c_str(), link, sizeof(link) - 1);
  if (n < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM)
      *error = "cannot read " + info.binary_path + ": " + std::strerror(err) +
               " — the agent needs root or CAP_SYS_PTRACE to inspect another user's process";
    else
      *error = "cannot resolve the executable of process " + std::to_string(pid) + " (" +
               info.binary_path + "): " + std::strerror(err);
    return std::nullopt;
  }
  info.exe_link.assign(link, static_cast<std::size_t>(n));
  struct stat st {};
  if (stat(info.binary_path.c_str(), &st) != 0) {
    *error = "cannot stat the executable of process " + std::to_string(pid) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  info.exe_dev = st.st_dev;
  info.exe_ino = st.st_ino;
  return info;
}

bool same_process_alive(const ProcessInfo& info) {
  char state = '?';
  unsigned flags = 0;
  std::uint64_t start = 0;
  if (!read_stat(info.pid, &state, &start, &flags)) return false;
  if (start != info.start_time || state == 'Z' || state == 'X') return false;
  // execve() in place: same PID and start time, another file. Unreadable (permission) or gone
  // between the two reads is decided by the next check, not guessed here.
  struct stat st {};
  if (stat(proc_path(info.pid, "exe").c_str(), &st) == 0 && (st.st_dev != info.exe_dev || st.st_ino != info.exe_ino))
    return false;
  return true;
}

std::optional<int> find_process(const std::string& comm, const std::string& exe, const std::vector<int>& exclude) {
  DIR* dir = opendir("/proc");
  if (!dir) return std::nullopt;
  std::optional<int> found;
  std::uint64_t newest = 0;
  const int self = getpid();
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    if (std::find(exclude.begin(), exclude.end(), static_cast<int>(pid)) != exclude.end()) continue;
    // Runs every 200 ms while a target is away: read comm / the exe link first, and inspect
    // only a process that matches.
    bool match = false;
    if (!comm.empty()) {
      std::string name;
      match = read_first_line(proc_path(static_cast<int>(pid), "comm"), &name) && name == comm;
    }
    if (!match && !exe.empty()) {
      char link[4096];
      ssize_t n = readlink(proc_path(static_cast<int>(pid), "exe").c_str(), link, sizeof(link) - 1);
      if (n > 0) {
        std::string path(link, static_cast<std::size_t>(n));
        match = path == exe || path == exe + " (deleted)";
      }
    }
    if (!match) continue;
    std::string error;
    auto info = inspect_process(static_cast<int>(pid), &error);
    // Several matches: take the newest, the one a restart just created.
    if (info && info->start_time >= newest) {
      newest = info->start_time;
      found = info->pid;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace dwcp::agent
