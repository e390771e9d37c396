#include "agent/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace dwcp::agent {
namespace {

std::string proc_path(int pid, const char* leaf) { return "/proc/" + std::to_string(pid) + "/" + leaf; }

// At most `max_bytes` of a /proc file: its lines are short, and a bounded read is all we trust.
// nullopt when it cannot be opened or is empty.
std::optional<std::string> read_small(const std::string& path, std::size_t max_bytes = 4096) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out(max_bytes, '\0');
  std::size_t done = 0;
  while (done < max_bytes) {
    ssize_t n = ::read(fd, &out[done], max_bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done == 0) return std::nullopt;
  out.resize(done);
  return out;
}

bool parse_u64(std::string_view text, std::uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    std::uint64_t next = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  *out = v;
  return true;
}

std::optional<StatFields> read_stat(int pid) {
  const std::optional<std::string> text = read_small(proc_path(pid, "stat"));
  if (!text) return std::nullopt;
  return parse_stat(*text);
}

// The target of /proc/PID/exe; the error keeps readlink's errno.
Result<std::string> read_exe_link(int pid) {
  char link[4096];
  ssize_t n = readlink(proc_path(pid, "exe").c_str(), link, sizeof(link));
  if (n < 0) return Error::system("readlink " + proc_path(pid, "exe"));
  return std::string(link, static_cast<std::size_t>(n));
}

constexpr unsigned kPfKthread = 0x00200000;

}  // namespace

std::optional<StatFields> parse_stat(std::string_view text) {
  // "pid (comm) state ppid ... flags(9) ... utime(14) stime(15) ... starttime(22) ...". comm is whatever the process
  // set (prctl(PR_SET_NAME) takes any byte but NUL): only the first '(' and the last ')' are
  // certain.
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  StatFields fields;
  fields.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  int index = 3;  // fields after comm start at 3 (state)
  std::size_t at = 0;
  while (at < rest.size()) {
    while (at < rest.size() && (rest[at] == ' ' || rest[at] == '\n')) ++at;
    if (at >= rest.size()) break;
    std::size_t end = rest.find_first_of(" \n", at);
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view field = rest.substr(at, end - at);
    std::uint64_t number = 0;
    if (index == 3) {
      if (field.size() != 1) return std::nullopt;
      fields.state = field[0];
    } else if (index == 9) {
      if (!parse_u64(field, &number)) return std::nullopt;
      fields.flags = static_cast<unsigned>(number);
    } else if (index == 14 || index == 15) {
      if (!parse_u64(field, &number)) return std::nullopt;
      (index == 14 ? fields.utime_ticks : fields.stime_ticks) = number;
    } else if (index == 22) {
      if (!parse_u64(field, &number)) return std::nullopt;
      fields.start_time = number;
      return fields;
    }
    ++index;
    at = end;
  }
  return std::nullopt;
}

std::optional<double> process_cpu_seconds(int pid) {
  auto stat = read_stat(pid);
  if (!stat) return std::nullopt;
  return static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<ProcessCredentials> parse_status_uids(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (line.substr(0, 4) == "Uid:") {
      // "Uid:\treal\teffective\tsaved\tfs"
      std::uint64_t ids[2];
      std::size_t pos = 4;
      for (auto& id : ids) {
        while (pos < line.size() && (line[pos] == '\t' || line[pos] == ' ')) ++pos;
        std::size_t stop = line.find_first_of("\t ", pos);
        if (stop == std::string_view::npos) stop = line.size();
        if (!parse_u64(line.substr(pos, stop - pos), &id) || id > 0xffffffffull) return std::nullopt;
        pos = stop;
      }
      return ProcessCredentials{static_cast<uid_t>(ids[0]), static_cast<uid_t>(ids[1])};
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::string escape_for_log(std::string_view text, std::size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(text.size(), max_bytes);
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

Result<ProcessInfo> inspect_process(int pid) {
  if (pid <= 0)
    return Error{
        "invalid PID " + std::to_string(pid) + ": give the PID of a running DWCP process (e.g. `pgrep -f dwcp`)", 0,
        ErrorKind::kTarget};
  if (pid == getpid())
    return Error{"PID " + std::to_string(pid) + " is dwcp-observer itself: give the PID of the DWCP process", 0,
                 ErrorKind::kTarget};
  auto stat = read_stat(pid);
  if (!stat)
    return Error{"no process with PID " + std::to_string(pid) +
                     " (it may have exited): check the PID with `pgrep -f dwcp`, or use --comm/--exe with --follow",
                 0, ErrorKind::kTarget};
  if (stat->state == 'Z' || stat->state == 'X')
    return Error{"process " + std::to_string(pid) +
                     " is a zombie (it exited and was not reaped yet): there is no program left to observe",
                 0, ErrorKind::kTarget};
  if (stat->flags & kPfKthread)
    return Error{"process " + std::to_string(pid) + " is a kernel thread: it has no user-space binary to probe", 0,
                 ErrorKind::kTarget};
  ProcessInfo info;
  info.pid = pid;
  info.comm = std::move(stat->comm);
  info.start_time = stat->start_time;
  info.binary_path = proc_path(pid, "exe");
  auto link = read_exe_link(pid);
  if (!link) {
    const int err = link.failure().code;
    if (err == EACCES || err == EPERM)
      return Error{"cannot read " + info.binary_path + ": " + std::strerror(err) +
                       " — the agent needs root or CAP_SYS_PTRACE to inspect another user's process",
                   err, ErrorKind::kTarget};
    return Error{"cannot resolve the executable of process " + std::to_string(pid) + " (" + info.binary_path +
                     "): " + std::strerror(err),
                 err, ErrorKind::kTarget};
  }
  info.exe_path = std::move(link.value());
  info.exe_link = escape_for_log(info.exe_path);
  auto exe = peek_executable(pid);
  if (!exe)
    return Error::system("cannot stat the executable of process " + std::to_string(pid), errno, ErrorKind::kTarget);
  info.exe = *exe;
  const std::optional<std::string> status = read_small(proc_path(pid, "status"), 16384);
  auto creds = status ? parse_status_uids(*status) : std::nullopt;
  if (!creds)
    return Error{"cannot read the uids of process " + std::to_string(pid) + " (" + proc_path(pid, "status") + ")", 0,
                 ErrorKind::kTarget};
  info.creds = *creds;
  return info;
}

bool same_process_alive(const ProcessInfo& info) {
  auto stat = read_stat(info.pid);
  if (!stat || stat->start_time != info.start_time || stat->state == 'Z' || stat->state == 'X') return false;
  // execve() in place: same PID and start time, another file. Unreadable (permission) or gone
  // between the two reads is decided by the next check, not guessed here.
  const FileIdentity& expected = info.executable ? info.executable->identity() : info.exe;
  auto now = peek_executable(info.pid);
  return !now || now->same_inode(expected);
}

bool still_runs_pinned_file(const ProcessInfo& info) {
  if (!info.executable) return false;
  auto stat = read_stat(info.pid);
  if (!stat || stat->start_time != info.start_time || stat->state == 'Z' || stat->state == 'X') return false;
  auto now = peek_executable(info.pid);
  return now && now->same_inode(info.executable->identity());
}

std::vector<int> list_pids() {
  std::vector<int> pids;
  DIR* dir = opendir("/proc");
  if (!dir) return pids;
  const int self = getpid();
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid > (1 << 30) || pid == self) continue;
    pids.push_back(static_cast<int>(pid));
  }
  closedir(dir);
  return pids;
}

std::vector<int> find_processes(const std::string& comm, const std::string& exe, const std::vector<int>& exclude) {
  std::vector<std::pair<std::uint64_t, int>> found;  // (start time, pid)
  for (int pid : list_pids()) {
    if (std::find(exclude.begin(), exclude.end(), pid) != exclude.end()) continue;
    // Runs every 200 ms while a target is away: read the stat line / the exe link first, and
    // inspect only a process that matches.
    auto stat = read_stat(pid);
    if (!stat || stat->state == 'Z' || stat->state == 'X' || (stat->flags & kPfKthread)) continue;
    bool match = !comm.empty() && stat->comm == comm;
    if (!match && !exe.empty()) {
      auto path = read_exe_link(pid);
      match = path && (*path == exe || *path == exe + " (deleted)");
    }
    if (match) found.emplace_back(stat->start_time, pid);
  }
  // Several matches: the newest first, the one a restart just created.
  std::sort(found.rbegin(), found.rend());
  std::vector<int> pids;
  for (const auto& [start, pid] : found) pids.push_back(pid);
  return pids;
}

}  // namespace dwcp::agent
