// A target's memory for the agent's unit tests: 8-byte words by address; a missing word is an
// unmapped address (EFAULT), and only whole words are read, as the readers under test read them.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "agent/stream_reader.h"

namespace dwcp::agent::testing {

struct WordMemory : MemoryReader {
  std::map<std::uint64_t, std::uint64_t> words;
  Result<void> read(const std::vector<Range>& ranges) override {
    for (const auto& r : ranges) {
      auto it = words.find(r.addr);
      if (it == words.end() || r.len != 8) return Error{"EFAULT", EFAULT};
      std::memcpy(r.out, &it->second, 8);
    }
    return {};
  }
};

}  // namespace dwcp::agent::testing
