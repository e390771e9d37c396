#include "goelf/dwarf_limits.h"

#include <elf.h>

#include <cstring>
#include <string>

namespace dwcp::goelf {

Result<uint64_t> declared_inflated_size(const ElfImage& elf, uint64_t cap) {
  const ByteView file = elf.bytes();
  uint64_t total = 0;
  for (const Section& section : elf.sections()) {
    uint64_t inflated = 0;
    if ((section.flags & SHF_COMPRESSED) != 0) {
      auto header = file.sub(section.offset, sizeof(Elf64_Chdr));
      if (!header || section.size < sizeof(Elf64_Chdr))
        return Error{"corrupt ELF: compressed section " + section.name + " has no compression header"};
      Elf64_Chdr chdr;
      std::memcpy(&chdr, header->data(), sizeof chdr);
      inflated = chdr.ch_size;
    } else if (section.name.rfind(".zdebug", 0) == 0) {
      auto header = file.sub(section.offset, 12);
      if (!header || section.size < 12 || std::memcmp(header->data(), "ZLIB", 4) != 0) continue;  // libdw skips it too
      for (int i = 4; i < 12; ++i) inflated = (inflated << 8) | header->data()[i];
    } else {
      continue;
    }
    if (inflated > cap || total + inflated > cap) {
      return Error{"compressed DWARF would inflate to more than " + std::to_string(cap) + " bytes (section " +
                   section.name + " declares " + std::to_string(inflated) + "): not inflated"};
    }
    total += inflated;
  }
  return total;
}

}  // namespace dwcp::goelf
