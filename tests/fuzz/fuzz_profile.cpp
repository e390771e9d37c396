// libFuzzer target: the probe-profile parser (JSON, validation, Go ABI register assignment,
// field expressions). A profile is operator input, but it decides what the agent writes into
// processes, so a malformed one must be an error, never a crash or a hang.
#include <cstdint>
#include <string_view>

#include "profile/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)dwcp::profile::parse_profile(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  return 0;
}
