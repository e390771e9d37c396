// Small text helpers shared by the agent's and goelf's messages, written once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace dwcp {

// "0x1f40": an address or offset as messages and docs show it.
inline std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace dwcp
