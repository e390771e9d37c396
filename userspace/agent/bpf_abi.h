// The contract version check at load: the BPF object carries the DWCP_ABI_VERSION it was built
// against (`dwcp_abi_version`, read-only data of bpf/observer.bpf.c); an agent refuses to load an
// object built against another version of include/dwcp_observer/events.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dwcp_observer/result.h"

struct bpf_object;

namespace dwcp::agent {

// The object's `dwcp_abi_version` constant, read from its .rodata image after open and before
// load; nullopt when the object has none.
std::optional<std::uint32_t> bpf_object_abi_version(bpf_object* object);

// Ok when the opened object's version is this agent's DWCP_ABI_VERSION; else why it is refused.
Result<void> abi_refusal(bpf_object* object);

}  // namespace dwcp::agent
