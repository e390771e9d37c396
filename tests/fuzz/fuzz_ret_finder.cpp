// libFuzzer target: the RET finder on arbitrary machine code.
#include <cstdint>
#include <cstdlib>

#include "goelf/ret_finder.h"

using namespace dwcp::goelf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto rets = find_ret_offsets(ByteView(data, size), 0x401000);
  if (!rets) return 0;
  uint64_t previous = 0;
  for (size_t i = 0; i < rets->size(); ++i) {
    const uint64_t offset = (*rets)[i];
    if (offset >= size || (i > 0 && offset <= previous)) abort();
    previous = offset;
  }
  return 0;
}
