// The machine architectures whose Go binaries the agent probes: the ELF machine picks the
// instruction decoder (ret_finder.h) and the register assignment (profile/go_abi.h). Uprobes
// run native code, so a target must be of the agent's own architecture (native_arch()).
#pragma once

namespace dwcp::goelf {

enum class Arch { Amd64, Arm64 };

// The architecture this agent was built for.
constexpr Arch native_arch() {
#if defined(__aarch64__)
  return Arch::Arm64;
#else
  return Arch::Amd64;
#endif
}

// Go's GOARCH name: "amd64", "arm64".
constexpr const char* arch_name(Arch arch) { return arch == Arch::Arm64 ? "arm64" : "amd64"; }

}  // namespace dwcp::goelf
