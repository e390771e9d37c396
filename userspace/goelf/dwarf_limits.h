// Compressed DWARF is inflated by libdw as soon as a session begins, to whatever size each
// section header declares: a 16 MB file can declare, and hold, GiBs of zeros (issue 14 item 3).
// So the declared sizes are read from the mapped file, with our bounds-checked ELF parser, and
// summed before libdw sees the file; over the cap, DWARF is refused and nothing is inflated.
#pragma once

#include <cstdint>

#include "dwcp_observer/result.h"
#include "goelf/elf_image.h"

namespace dwcp::goelf {

// All compressed sections of a file together, inflated. The DWARF of the largest Go programs
// we know inflates to a few tens of MB; the DaemonSet's memory limit is 256 MiB.
constexpr uint64_t kMaxInflatedDebugBytes = uint64_t{128} << 20;

// The sum of the inflated sizes the file declares: SHF_COMPRESSED sections (Elf64_Chdr.ch_size)
// and GNU ".zdebug_*" sections ("ZLIB" + big-endian 64-bit size). An error when that sum exceeds
// `cap` or a compressed section's header lies outside the file.
Result<uint64_t> declared_inflated_size(const ElfImage& elf, uint64_t cap = kMaxInflatedDebugBytes);

}  // namespace dwcp::goelf
