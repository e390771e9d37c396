// The TCP listening sockets a process already holds when the agent attaches, so that the
// connections it accepts later are charged to it (bpf/connections.bpf.h: passive opens are charged to
// the owner of the listener on their local port). Listeners opened after the attach are learnt
// in the kernel at listen().
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace dwcp::agent {

struct Listener {
  std::uint16_t port = 0;  // local port, host order
  std::uint64_t inode = 0;
};

// Rows in state LISTEN (0A) of /proc/PID/net/tcp or tcp6 text; at most `max_rows` read.
std::vector<Listener> parse_listeners(const std::string& proc_net_tcp, std::size_t max_rows = 65536);

// Socket inodes among /proc/PID/fd ("socket:[N]"), at most `max_fds` looked at.
std::set<std::uint64_t> socket_inodes(int pid, std::size_t max_fds = 65536);

}  // namespace dwcp::agent
