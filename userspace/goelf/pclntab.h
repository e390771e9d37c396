// Reader for Go's pclntab (the runtime's own function table), which survives `-ldflags=-s -w`
// and so is the way to find functions in a stripped Go binary. Formats handled, by header magic:
//   0xfffffffa  Go 1.16-1.17: functab entries are absolute addresses (uintptr).
//   0xfffffff0  Go 1.18-1.19: functab entries are uint32 offsets from the text start, which the
//               header records.
//   0xfffffff1  Go 1.20-1.25: same layout as 1.18 for what we read.
//   0xfffffff1  Go 1.26+: same again, but the header's textStart word is always 0 (it needed a
//               relocation); the text start must come from elsewhere (moduledata, runtime.text).
// Older magics (0xfffffffb, Go 1.2-1.15) are refused: nothing we target is built with them.
// Layouts follow Go's runtime/symtab.go (pcHeader, _func) and debug/gosym/pclntab.go.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dwcp_observer/result.h"
#include "goelf/bytes.h"

namespace dwcp::goelf {

constexpr uint32_t kPclntabMagic116 = 0xfffffffa;
constexpr uint32_t kPclntabMagic118 = 0xfffffff0;
constexpr uint32_t kPclntabMagic120 = 0xfffffff1;
// The largest Go programs have a few hundred thousand functions; more is refused, not indexed.
constexpr uint64_t kMaxPclntabFunctions = uint64_t{1} << 21;

struct PclntabHeader {
  uint32_t magic = 0;
  std::string version;  // "1.16", "1.18", "1.20" or "1.26" (1.20 layout with textStart == 0)
  uint64_t function_count = 0;
  uint8_t quantum = 1;                   // instruction size unit: 1 on amd64, 4 on arm64
  bool has_text_start_field = false;     // 1.18+ headers carry a textStart word
  uint64_t text_start_field = 0;         // its value as stored in the file (0 from Go 1.26 on)
  uint64_t text_start_field_offset = 0;  // where that word sits, from the start of the table
};

struct PclntabFunction {
  std::string name;
  uint64_t entry = 0;  // virtual address of the first instruction
  uint64_t end = 0;    // the next function's entry (or the table's end of text)
};

struct Pclntab {
  PclntabHeader header;
  uint64_t text_start = 0;                 // the base the entries were computed from (absolute for 1.16)
  uint64_t text_end = 0;                   // end of the last function (the table's sentinel entry)
  std::vector<PclntabFunction> functions;  // in table order: entries never decrease
};

// Reads and checks only the fixed header (magic, pad bytes, quantum 1 or 4, pointer size 8).
Result<PclntabHeader> parse_pclntab_header(ByteView table);

// Reads the whole function table. text_start is the address of runtime.text: 1.18+ entries are
// offsets from it (pass the header field, or, when that is 0, the value found elsewhere); it is
// ignored for 1.16, whose entries are absolute. Refuses, with a reason, any table whose offsets
// point outside it, whose entries decrease, whose _func records disagree with the functab, or
// whose names are not NUL-terminated strings inside the name table.
Result<Pclntab> parse_pclntab(ByteView table, uint64_t text_start);

}  // namespace dwcp::goelf
