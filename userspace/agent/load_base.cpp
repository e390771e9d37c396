#include "agent/load_base.h"

#include <cinttypes>
#include <cstdio>
#include <sstream>

namespace dwcp::agent {

std::vector<MapsEntry> parse_maps(const std::string& text, std::size_t max_entries) {
  std::vector<MapsEntry> out;
  std::istringstream in(text);
  std::string line;
  while (out.size() < max_entries && std::getline(in, line)) {
    MapsEntry e;
    char perms[8] = {};
    unsigned dev_major = 0, dev_minor = 0;
    int path_at = -1;
    // start-end perms offset dev inode [path]
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &e.start, &e.end,
                    perms, &e.offset, &dev_major, &dev_minor, &e.inode, &path_at) < 7)
      continue;
    if (e.end <= e.start) continue;
    e.exec = perms[2] == 'x';
    if (path_at > 0 && static_cast<std::size_t>(path_at) < line.size()) e.path = line.substr(path_at);
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::uint64_t> file_offset_to_vaddr(const std::vector<MapsEntry>& maps, const std::string& path,
                                                  std::uint64_t inode, std::uint64_t file_offset) {
  for (int pass = 0; pass < 4; ++pass) {
    const bool by_path = pass < 2, want_exec = pass % 2 == 0;
    for (const auto& e : maps) {
      if (by_path ? (path.empty() || e.path != path) : (inode == 0 || e.inode != inode)) continue;
      if (want_exec && !e.exec) continue;
      if (file_offset < e.offset || file_offset - e.offset >= e.end - e.start) continue;
      return e.start + (file_offset - e.offset);
    }
  }
  return std::nullopt;
}

}  // namespace dwcp::agent
