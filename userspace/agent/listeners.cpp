#include "agent/listeners.h"

#include <dirent.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace dwcp::agent {

std::vector<Listener> parse_listeners(const std::string& proc_net_tcp, std::size_t max_rows) {
  std::vector<Listener> out;
  std::istringstream in(proc_net_tcp);
  std::string line;
  std::getline(in, line);  // header
  for (std::size_t rows = 0; rows < max_rows && std::getline(in, line); ++rows) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    char local[64] = {}, remote[64] = {};
    unsigned state = 0, uid = 0;
    std::uint64_t inode = 0;
    if (std::sscanf(line.c_str(), " %*[0-9]: %63s %63s %x %*s %*s %*s %u %*d %" SCNu64, local, remote, &state, &uid,
                    &inode) != 5)
      continue;
    if (state != 0x0A || inode == 0) continue;
    const char* colon = std::strrchr(local, ':');
    unsigned port = 0;
    if (!colon || std::sscanf(colon + 1, "%x", &port) != 1 || port == 0 || port > 0xffff) continue;
    out.push_back({static_cast<std::uint16_t>(port), inode});
  }
  return out;
}

std::set<std::uint64_t> socket_inodes(int pid, std::size_t max_fds) {
  std::set<std::uint64_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  std::size_t seen = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (++seen > max_fds) break;
    char target[64] = {};
    const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    std::uint64_t inode = 0;
    if (n > 0 && std::sscanf(target, "socket:[%" SCNu64 "]", &inode) == 1) out.insert(inode);
  }
  closedir(d);
  return out;
}

}  // namespace dwcp::agent
