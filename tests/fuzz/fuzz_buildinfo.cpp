// libFuzzer target: the .go.buildinfo parser (both layouts). For the pointer layout the input
// doubles as the memory image, mapped at address 0, so pointers can land inside it.
#include <cstdint>

#include "goelf/buildinfo.h"

using namespace dwcp::goelf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView blob(data, size);
  MemoryReader memory = [blob](uint64_t vaddr, uint64_t length) { return blob.sub(vaddr, length); };
  (void)parse_buildinfo(blob, memory);
  return 0;
}
