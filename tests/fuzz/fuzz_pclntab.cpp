// libFuzzer target: the pclntab parser on arbitrary bytes, for every header format.
#include <cstdint>
#include <cstdlib>

#include "goelf/pclntab.h"

using namespace dwcp::goelf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView table(data, size);
  (void)parse_pclntab_header(table);
  auto parsed = parse_pclntab(table, 0x401000);
  if (!parsed) return 0;
  // An accepted table is sorted and every function ends where the next begins.
  uint64_t previous = 0;
  for (const auto& fn : parsed->functions) {
    if (fn.entry < previous || fn.end < fn.entry || fn.name.empty()) abort();
    previous = fn.entry;
  }
  if (parsed->text_end < previous) abort();
  return 0;
}
