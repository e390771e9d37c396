// Target registration: what the BPF side is told about the processes it watches, through the maps
// that say so (agent/bpf_maps.h). A target's tgid (the socket programs' filter) with its
// listening sockets, the probe specs its uprobes run, and where AMST sessions keep their streams.
#pragma once

#include <cstdint>

#include "agent/bpf_maps.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

// Starts counting socket traffic of `tgid` (creates its zeroed entry: the tgid filter) and
// registers the listeners it opened before (a server's usual state: the BPF side learns only
// those opened later, at listen()).
Result<void> register_target(const ObserverMaps& maps, std::uint32_t tgid);
// Stops counting it and forgets its listeners (a successor on the same port registers its own).
void unregister_target(const ObserverMaps& maps, std::uint32_t tgid);

Result<void> store_spec(const ObserverMaps& maps, std::uint32_t index, const dwcp_probe_spec& spec);
// Read at each session_close entry (events.h).
Result<void> store_stream_layout(const ObserverMaps& maps, const dwcp_stream_layout& layout);

}  // namespace dwcp::agent
