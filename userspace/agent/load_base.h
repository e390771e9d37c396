// Where a file offset of a target's executable lives in the target's memory, from
// /proc/PID/maps. Needed only on kernels without BPF cookies: there the uprobe program finds its
// spec by the probed instruction's virtual address (agent/kernel_features.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dwcp::agent {

struct MapsEntry {
  std::uint64_t start = 0, end = 0, offset = 0, inode = 0;
  bool exec = false;
  std::string path;
};

// Parses /proc/PID/maps text; malformed lines are skipped, at most `max_entries` kept.
std::vector<MapsEntry> parse_maps(const std::string& text, std::size_t max_entries = 65536);

// vaddr = mapping start - mapping file offset + file offset, for the mapping of the file that
// holds `file_offset`. The file is the one whose path is `path` or, failing that, whose inode is
// `inode` (an overlayfs executable shows another path and device in maps than through
// /proc/PID/exe, but its inode number survives). Executable mappings are preferred.
std::optional<std::uint64_t> file_offset_to_vaddr(const std::vector<MapsEntry>& maps, const std::string& path,
                                                  std::uint64_t inode, std::uint64_t file_offset);

}  // namespace dwcp::agent
