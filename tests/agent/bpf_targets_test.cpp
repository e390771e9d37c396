// Target registration (agent/bpf_targets.h) and the map readers (agent/bpf_map_readers.h) on maps
// made here with the observer's key and value types: a registered process's socket counters start
// at zero and a port it listened on before is known; removing it forgets only its own listeners;
// per-CPU slots are summed. Needs CAP_BPF for the maps; skipped (77) otherwise, failed under CI=true.
#include "agent/bpf_targets.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "agent/bpf_map_readers.h"
#include "dwcp_observer/fd.h"

namespace dwcp::agent {
namespace {

class BpfMaps : public ::testing::Test {
 protected:
  void SetUp() override {
    sock_stats = make(BPF_MAP_TYPE_PERCPU_HASH, sizeof(std::uint32_t), sizeof(dwcp_sock_stats), DWCP_MAX_TARGETS);
    if (!sock_stats) GTEST_SKIP() << "cannot create a BPF map (CAP_BPF needed)";
    listeners = make(BPF_MAP_TYPE_HASH, sizeof(dwcp_listen_key), sizeof(std::uint32_t), 64);
    spec_hits = make(BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(std::uint32_t), sizeof(std::uint64_t), DWCP_MAX_SPECS);
    ASSERT_TRUE(listeners && spec_hits);
    maps.ncpus = libbpf_num_possible_cpus();
    maps.sock_stats = sock_stats.get();
    maps.listeners = listeners.get();
    maps.spec_hits = spec_hits.get();
  }
  static Fd make(bpf_map_type type, std::uint32_t key, std::uint32_t value, std::uint32_t entries) {
    return Fd(bpf_map_create(type, "targets_test", key, value, entries, nullptr));
  }
  bool listening(std::uint32_t netns, std::uint16_t port, std::uint32_t* owner) const {
    dwcp_listen_key key{};
    key.netns = netns;
    key.port = port;
    return bpf_map_lookup_elem(listeners.get(), &key, owner) == 0;
  }
  Fd sock_stats, listeners, spec_hits;
  ObserverMaps maps;
};

// This test process as the target: it listens on 127.0.0.1 before it is registered, as a DWCP
// server does before the agent attaches.
TEST_F(BpfMaps, ARegisteredProcessStartsAtZeroWithTheListenersItHadBefore) {
  const Fd server(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(server);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(server.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(server.get(), 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(server.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  struct stat netns {};
  ASSERT_EQ(stat("/proc/self/ns/net", &netns), 0);

  const auto self = static_cast<std::uint32_t>(getpid());
  ASSERT_TRUE(register_target(maps, self));
  dwcp_sock_stats stats{};
  stats.bytes_sent = 1;
  ASSERT_TRUE(read_sock_stats(maps, self, &stats));
  EXPECT_EQ(stats.bytes_sent, 0u);
  std::uint32_t owner = 0;
  ASSERT_TRUE(listening(static_cast<std::uint32_t>(netns.st_ino), ntohs(address.sin_port), &owner))
      << "the port the process listened on before registration is not known";
  EXPECT_EQ(owner, self);

  unregister_target(maps, self);
  EXPECT_FALSE(read_sock_stats(maps, self, &stats));
  EXPECT_FALSE(listening(static_cast<std::uint32_t>(netns.st_ino), ntohs(address.sin_port), &owner));
}

TEST_F(BpfMaps, RemovingATargetForgetsOnlyItsOwnListeners) {
  const std::uint32_t gone = 0x7ffffff0, staying = 0x7ffffff1;  // no such processes: nothing seeded
  ASSERT_TRUE(register_target(maps, gone));
  ASSERT_TRUE(register_target(maps, staying));
  for (std::uint16_t port = 1; port <= 6; ++port) {
    dwcp_listen_key key{};
    key.netns = 1;
    key.port = port;
    const std::uint32_t owner = port % 2 ? gone : staying;
    ASSERT_EQ(bpf_map_update_elem(listeners.get(), &key, &owner, BPF_ANY), 0);
  }
  unregister_target(maps, gone);
  std::uint32_t owner = 0;
  for (std::uint16_t port = 1; port <= 6; ++port)
    EXPECT_EQ(listening(1, port, &owner), port % 2 == 0) << "port " << port;
  dwcp_sock_stats stats{};
  EXPECT_FALSE(read_sock_stats(maps, gone, &stats));
  EXPECT_TRUE(read_sock_stats(maps, staying, &stats));
}

TEST_F(BpfMaps, ProbeHitsSumEveryCpuOfTheEntryAndRetSites) {
  const std::uint32_t probe = 2;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(maps.ncpus));
  for (std::size_t cpu = 0; cpu < per_cpu.size(); ++cpu) per_cpu[cpu] = cpu + 1;
  const std::uint32_t entry = contract::entry_spec_index(probe), exit = contract::exit_spec_index(probe);
  ASSERT_EQ(bpf_map_update_elem(spec_hits.get(), &entry, per_cpu.data(), BPF_ANY), 0);
  ASSERT_EQ(bpf_map_update_elem(spec_hits.get(), &exit, per_cpu.data(), BPF_ANY), 0);
  const std::uint64_t n = static_cast<std::uint64_t>(maps.ncpus);
  EXPECT_EQ(read_probe_hits(maps, probe), n * (n + 1));  // twice 1 + 2 + ... + n
  EXPECT_EQ(read_probe_hits(maps, probe + 1), 0u);
}

}  // namespace
}  // namespace dwcp::agent
