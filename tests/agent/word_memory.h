// A target's memory for the agent's unit tests: 8-byte words by address; a missing word is an
// unmapped address (EFAULT), and only whole words are read, as the readers under test read them.
// And the small AMST layout those tests lay their sessions out by.
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

// A session's `streams` slice at +16 (its length at +40); a stream's id at +8, bytes sent and
// received at +16 and +24: small offsets the tests write words at, not DWCP's real ones.
inline profile::SessionLayout small_session_layout() {
  profile::SessionLayout l;
  l.streams_off = 16;
  l.num_streams_off = 40;
  l.stream_id_off = 8;
  l.sent_off = 16;
  l.recv_off = 24;
  return l;
}

}  // namespace dwcp::agent::testing
