#include "agent/bpf_map_readers.h"

#include <bpf/bpf.h>

#include <vector>

namespace dwcp::agent {
namespace {

// The sum over CPUs of a per-CPU u64 slot; false when the key has no entry.
bool sum_per_cpu(int map, const void* key, int ncpus, std::uint64_t* sum) {
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpus));
  if (bpf_map_lookup_elem(map, key, per_cpu.data())) return false;
  for (auto v : per_cpu) *sum += v;
  return true;
}

}  // namespace

bool read_sock_stats(const ObserverMaps& maps, std::uint32_t tgid, dwcp_sock_stats* out) {
  std::vector<dwcp_sock_stats> per_cpu(static_cast<std::size_t>(maps.ncpus));
  if (bpf_map_lookup_elem(maps.sock_stats, &tgid, per_cpu.data())) return false;
  *out = {};
  constexpr std::size_t kFields = sizeof(dwcp_sock_stats) / sizeof(__u64);
  auto* sum = reinterpret_cast<__u64*>(out);
  for (const auto& cpu : per_cpu) {
    const auto* v = reinterpret_cast<const __u64*>(&cpu);
    for (std::size_t i = 0; i < kFields; ++i) sum[i] += v[i];
  }
  return true;
}

bool read_socket_bytes(const ObserverMaps& maps, std::uint64_t inode, dwcp_socket_bytes* out) {
  return bpf_map_lookup_elem(maps.socket_bytes, &inode, out) == 0;
}

void forget_socket(const ObserverMaps& maps, std::uint64_t inode) { bpf_map_delete_elem(maps.socket_bytes, &inode); }

void read_counters(const ObserverMaps& maps, BpfCounters* out) {
  *out = {};
  for (std::uint32_t key = 0; key < DWCP_MAX_PROBES * DWCP_DROP_COUNT; ++key)
    sum_per_cpu(maps.drops, &key, maps.ncpus, &out->drops[key / DWCP_DROP_COUNT][key % DWCP_DROP_COUNT]);
  for (std::uint32_t key = 0; key < DWCP_MAX_SPECS; ++key)
    sum_per_cpu(maps.spec_hits, &key, maps.ncpus, &out->spec_hits[key]);
}

std::uint64_t read_probe_hits(const ObserverMaps& maps, std::uint32_t probe_id) {
  std::uint64_t hits = 0;
  for (std::uint32_t key : {contract::entry_spec_index(probe_id), contract::exit_spec_index(probe_id)})
    if (key < DWCP_MAX_SPECS) sum_per_cpu(maps.spec_hits, &key, maps.ncpus, &hits);
  return hits;
}

void forget_inflight(const ObserverMaps& maps, std::uint32_t probe_id) {
  std::vector<dwcp_inflight_key> doomed;
  dwcp_inflight_key key{}, next{};
  const dwcp_inflight_key* at = nullptr;  // nullptr: the first key
  while (bpf_map_get_next_key(maps.inflight, at, &next) == 0) {
    if (next.probe_id == probe_id) doomed.push_back(next);
    key = next;
    at = &key;
  }
  for (const auto& k : doomed) bpf_map_delete_elem(maps.inflight, &k);
}

std::uint64_t read_proc_events_lost(const ObserverMaps& maps) {
  const std::uint32_t zero = 0;
  std::uint64_t sum = 0;
  sum_per_cpu(maps.proc_events_lost, &zero, maps.ncpus, &sum);
  return sum;
}

}  // namespace dwcp::agent
