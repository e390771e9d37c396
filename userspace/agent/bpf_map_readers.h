// Map readers: what the BPF programs counted, read from their maps (agent/bpf_maps.h) with per-CPU
// slots summed, and the two deletions that settle what was read (a closed stream's socket, a
// sampled probe's unpaired entries).
#pragma once

#include <cstdint>

#include "agent/bpf_maps.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"

namespace dwcp::agent {

// Per-probe loss and hit counts summed over CPUs.
struct BpfCounters {
  std::uint64_t drops[DWCP_MAX_PROBES][DWCP_DROP_COUNT] = {};
  std::uint64_t spec_hits[DWCP_MAX_SPECS] = {};
  // Uprobe hits of one probe: its entry site and every RET site.
  std::uint64_t probe_hits(std::uint32_t probe_id) const {
    return spec_hits[contract::entry_spec_index(probe_id)] + spec_hits[contract::exit_spec_index(probe_id)];
  }
};

// A target's socket counters summed over CPUs; false when it is not registered.
bool read_sock_stats(const ObserverMaps& maps, std::uint32_t tgid, dwcp_sock_stats* out);
// One socket's bytes since its target was added, by socket inode number (events.h,
// dwcp_socket_bytes); false when the socket carried none since (or its entry aged out).
bool read_socket_bytes(const ObserverMaps& maps, std::uint64_t inode, dwcp_socket_bytes* out);
void forget_socket(const ObserverMaps& maps, std::uint64_t inode);
void read_counters(const ObserverMaps& maps, BpfCounters* out);
// Uprobe hits of one probe so far (entry and RET sites): two map reads instead of
// read_counters()'s hundreds.
std::uint64_t read_probe_hits(const ObserverMaps& maps, std::uint32_t probe_id);
// Deletes the entries of `probe_id` waiting for their RET (all processes).
void forget_inflight(const ObserverMaps& maps, std::uint32_t probe_id);
// Process events the kernel could not queue (proc_events full).
std::uint64_t read_proc_events_lost(const ObserverMaps& maps);

}  // namespace dwcp::agent
