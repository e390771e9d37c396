// libFuzzer target: the RET finder and the entry check's sweep (starts_instruction) on arbitrary
// machine code; the two sweeps must agree on where each RET starts.
#include <cstdint>
#include <cstdlib>

#include "goelf/ret_finder.h"

using namespace dwcp::goelf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)starts_instruction(dwcp::goelf::Arch::Amd64, ByteView(data, size), 0x401000, 0x401000 + size / 2);
  auto rets = find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(data, size), 0x401000);
  if (!rets) return 0;
  uint64_t previous = 0;
  for (size_t i = 0; i < rets->size(); ++i) {
    const uint64_t offset = (*rets)[i];
    if (offset >= size || (i > 0 && offset <= previous)) abort();
    previous = offset;
    auto starts = starts_instruction(dwcp::goelf::Arch::Amd64, ByteView(data, size), 0x401000, 0x401000 + offset);
    if (!starts || !*starts) abort();  // everything decoded for find_ret_offsets: a boundary
  }
  return 0;
}
