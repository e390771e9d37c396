#include "agent/bpf_targets.h"

#include <bpf/bpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/listeners.h"

namespace dwcp::agent {
namespace {

// Listeners the process opened before the attach. Best effort: a process without them loses
// nothing.
void seed_listeners(const ObserverMaps& maps, std::uint32_t tgid) {
  const std::string proc = "/proc/" + std::to_string(tgid);
  struct stat ns {};
  if (stat((proc + "/ns/net").c_str(), &ns) != 0) return;
  const auto sockets = socket_inodes(static_cast<int>(tgid));
  if (sockets.empty()) return;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in(proc + table);
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& listener : parse_listeners(text.str())) {
      if (!sockets.count(listener.inode)) continue;
      dwcp_listen_key key{};
      key.netns = static_cast<__u32>(ns.st_ino);
      key.port = listener.port;
      bpf_map_update_elem(maps.listeners, &key, &tgid, BPF_ANY);
    }
  }
}

}  // namespace

Result<void> register_target(const ObserverMaps& maps, std::uint32_t tgid) {
  std::vector<dwcp_sock_stats> zero(static_cast<std::size_t>(maps.ncpus));
  if (bpf_map_update_elem(maps.sock_stats, &tgid, zero.data(), BPF_ANY)) {
    return Error::system("cannot register process " + std::to_string(tgid) + " for socket counting (at most " +
                             std::to_string(DWCP_MAX_TARGETS) + " targets)",
                         errno, ErrorKind::kBpf);
  }
  seed_listeners(maps, tgid);
  return {};
}

void unregister_target(const ObserverMaps& maps, std::uint32_t tgid) {
  bpf_map_delete_elem(maps.sock_stats, &tgid);
  std::vector<dwcp_listen_key> stale;
  dwcp_listen_key key{}, next{};
  const dwcp_listen_key* cursor = nullptr;  // nullptr: the first key
  while (bpf_map_get_next_key(maps.listeners, cursor, &next) == 0) {
    std::uint32_t owner = 0;
    if (bpf_map_lookup_elem(maps.listeners, &next, &owner) == 0 && owner == tgid) stale.push_back(next);
    key = next;
    cursor = &key;
  }
  for (const auto& k : stale) bpf_map_delete_elem(maps.listeners, &k);
}

Result<void> store_spec(const ObserverMaps& maps, std::uint32_t index, const dwcp_probe_spec& spec) {
  if (bpf_map_update_elem(maps.probe_specs, &index, &spec, BPF_ANY))
    return Error::system("cannot store probe spec " + std::to_string(index), errno, ErrorKind::kBpf);
  return {};
}

Result<void> store_stream_layout(const ObserverMaps& maps, const dwcp_stream_layout& layout) {
  const std::uint32_t zero = 0;
  if (bpf_map_update_elem(maps.stream_layout, &zero, &layout, BPF_ANY))
    return Error::system("cannot store the AMST stream table layout", errno, ErrorKind::kBpf);
  return {};
}

}  // namespace dwcp::agent
