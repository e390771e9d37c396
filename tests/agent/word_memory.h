// A target's memory for the agent's unit tests: 8-byte words by address; a missing word is an
// unmapped address (EFAULT), and only whole words are read, as the readers under test read them.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "agent/stream_reader.h"

namespace dwcp::agent::testing {

struct WordMemory : MemoryReader {
  std::map<std::uint64_t, std::uint64_t> words;
  bool read(const std::vector<Range>& ranges, std::string* why) override {
    for (const auto& r : ranges) {
      auto it = words.find(r.addr);
      if (it == words.end() || r.len != 8) {
        *why = "EFAULT";
        return false;
      }
      std::memcpy(r.out, &it->second, 8);
    }
    return true;
  }
};

}  // namespace dwcp::agent::testing
