// The observer's maps by descriptor (what each holds: dwcp_observer/events.h), for the code that
// registers targets (agent/bpf_targets.h) and reads figures (agent/bpf_map_readers.h). The loaded
// BPF object owns the descriptors; tests pass maps of their own.
#pragma once

namespace dwcp::agent {

struct ObserverMaps {
  int ncpus = 1;  // values of per-CPU maps come as one slot per possible CPU
  // Which processes and sites are watched (registration).
  int sock_stats = -1;     // tgid -> per-CPU dwcp_sock_stats: the tgid filter of the socket programs
  int listeners = -1;      // {netns, port} -> tgid: a target's listening sockets
  int probe_specs = -1;    // spec index -> dwcp_probe_spec
  int stream_layout = -1;  // 0 -> dwcp_stream_layout
  int spec_by_addr = -1;   // {tgid, address} -> spec index (kernels without attach cookies)
  // What the programs counted (readers).
  int socket_bytes = -1;      // socket inode -> dwcp_socket_bytes
  int drops = -1;             // probe x reason -> per-CPU count
  int spec_hits = -1;         // spec index -> per-CPU count
  int inflight = -1;          // {probe, goroutine, ...} -> an entry waiting for its RET
  int proc_events_lost = -1;  // 0 -> per-CPU count
};

}  // namespace dwcp::agent
