#include "goelf/pclntab.h"
#include "dwcp_observer/text.h"

#include <cstdio>

namespace dwcp::goelf {

namespace {

constexpr uint64_t kPtrSize = 8;
constexpr uint64_t kHeaderWordsStart = 8;
constexpr size_t kMaxFunctionNameLength = 64 * 1024;  // generic instantiations get long, not this long

// Header word i (a uintptr after the 8 fixed bytes).
std::optional<uint64_t> header_word(ByteView table, unsigned index) {
  return table.u64(kHeaderWordsStart + index * kPtrSize);
}

}  // namespace

Result<PclntabHeader> parse_pclntab_header(ByteView table) {
  auto magic = table.u32(0);
  if (!magic) return Error{"pclntab truncated: shorter than its magic"};
  PclntabHeader header;
  header.magic = *magic;
  switch (*magic) {
    case kPclntabMagic116:
      header.version = "1.16";
      break;
    case kPclntabMagic118:
      header.version = "1.18";
      break;
    case kPclntabMagic120:
      header.version = "1.20";
      break;
    case 0xfffffffb:
      return Error{
          "pclntab magic 0xfffffffb is Go 1.2-1.15, which is not supported: rebuild the target with Go 1.16 or newer"};
    default:
      return Error{"unknown pclntab magic " + hex(*magic) +
                   " (not Go 1.16-1.27): refusing to guess function addresses"};
  }
  const auto pad0 = table.u8(4), pad1 = table.u8(5), quantum = table.u8(6), ptr_size = table.u8(7);
  if (!pad0 || !pad1 || !quantum || !ptr_size) return Error{"pclntab truncated inside its header"};
  if (*pad0 != 0 || *pad1 != 0) return Error{"corrupt pclntab header: pad bytes are not zero"};
  if (*quantum != 1 && *quantum != 4)
    return Error{"pclntab instruction quantum is " + std::to_string(*quantum) +
                 ", neither 1 (amd64) nor 4 (arm64): not a Go binary of a supported architecture"};
  header.quantum = *quantum;
  if (*ptr_size != kPtrSize)
    return Error{"pclntab pointer size is " + std::to_string(*ptr_size) + ", not 8: not a 64-bit Go binary"};

  auto count = header_word(table, 0);
  if (!count) return Error{"pclntab truncated inside its header"};
  header.function_count = *count;
  if (header.magic != kPclntabMagic116) {
    header.has_text_start_field = true;
    header.text_start_field_offset = kHeaderWordsStart + 2 * kPtrSize;
    auto text_start = header_word(table, 2);
    if (!text_start) return Error{"pclntab truncated inside its header"};
    header.text_start_field = *text_start;
    // Go 1.26 stopped storing the text start (it cost a relocation): a zero here, in the 1.20
    // layout, is how a 1.26+ table shows itself.
    if (header.magic == kPclntabMagic120 && header.text_start_field == 0) header.version = "1.26";
  }
  return header;
}

Result<Pclntab> parse_pclntab(ByteView table, uint64_t text_start) {
  auto header = parse_pclntab_header(table);
  if (!header) return Error{header.error()};
  const bool go116 = header->magic == kPclntabMagic116;

  // Word layout after nfunc, nfiles: 1.16 has funcnameOffset at word 2 and pclnOffset (functab)
  // at word 6; 1.18+ inserted textStart at word 2, shifting them to 3 and 7.
  const unsigned name_word = go116 ? 2 : 3;
  const unsigned functab_word = go116 ? 6 : 7;
  auto name_offset = header_word(table, name_word);
  auto functab_offset = header_word(table, functab_word);
  if (!name_offset || !functab_offset) return Error{"pclntab truncated inside its header"};
  auto names = table.from(*name_offset);
  auto funcdata = table.from(*functab_offset);  // functab and the _func records share this base
  if (!names || !funcdata) {
    return Error{"corrupt pclntab: name table or function table offset points outside the table"};
  }

  const uint64_t field_size = go116 ? kPtrSize : 4;
  const uint64_t count = header->function_count;
  // (2 * count + 1) fields: (entry, funcoff) pairs then the end-of-text sentinel entry.
  if (count == 0) return Error{"pclntab lists no functions"};
  if (count > kMaxPclntabFunctions) {
    return Error{"pclntab lists " + std::to_string(count) + " functions, more than the " +
                 std::to_string(kMaxPclntabFunctions) + " this reader indexes: refusing the table"};
  }
  if (count > funcdata->size() / (2 * field_size)) {
    return Error{"corrupt pclntab: function count " + std::to_string(count) + " does not fit in the table"};
  }
  const uint64_t functab_size = (2 * count + 1) * field_size;
  if (!funcdata->contains(0, functab_size)) return Error{"pclntab truncated inside its function table"};

  if (!go116 && text_start == 0) {
    return Error{"pclntab (Go " + header->version +
                 " format) gives entries relative to the text start, which is unknown: need "
                 "runtime.text, the moduledata or a verifiable .text section"};
  }
  auto field = [&](uint64_t index) -> uint64_t {
    return go116 ? *funcdata->u64(index * field_size) : *funcdata->u32(index * field_size);
  };
  auto absolute = [&](uint64_t entry_field, uint64_t& out) {
    if (go116) {
      out = entry_field;
      return true;
    }
    out = text_start + entry_field;
    return out >= text_start;  // no wrap-around
  };

  Pclntab result;
  result.header = *header;
  result.text_start = go116 ? field(0) : text_start;
  result.functions.reserve(static_cast<size_t>(count));
  uint64_t previous_entry = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t entry_field = field(2 * i);
    const uint64_t func_offset = field(2 * i + 1);
    uint64_t entry = 0;
    if (!absolute(entry_field, entry)) return Error{"corrupt pclntab: function entry overflows the address space"};
    if (i > 0 && entry < previous_entry) {
      return Error{"corrupt pclntab: function table is not sorted (entry " + std::to_string(i) + " at " + hex(entry) +
                   " comes before " + hex(previous_entry) + ")"};
    }
    previous_entry = entry;

    // The _func record must agree with the functab about where the function starts.
    const uint64_t func_entry_size = go116 ? kPtrSize : 4;
    std::optional<uint64_t> record_entry =
        go116 ? funcdata->u64(func_offset)
              : (funcdata->u32(func_offset) ? std::optional<uint64_t>(*funcdata->u32(func_offset)) : std::nullopt);
    auto name_off =
        func_offset + func_entry_size < func_offset ? std::nullopt : funcdata->u32(func_offset + func_entry_size);
    if (!record_entry || !name_off) {
      return Error{"corrupt pclntab: _func record of function " + std::to_string(i) + " lies outside the table"};
    }
    if (*record_entry != entry_field) {
      return Error{"corrupt pclntab: _func record of function " + std::to_string(i) +
                   " disagrees with the function table about its entry"};
    }
    if (static_cast<int32_t>(*name_off) < 0) {
      return Error{"corrupt pclntab: negative name offset for function " + std::to_string(i)};
    }
    auto name = names->c_string(*name_off, kMaxFunctionNameLength);
    if (!name || name->empty()) {
      return Error{"corrupt pclntab: name of function " + std::to_string(i) + " is not a string inside the name table"};
    }
    result.functions.push_back(PclntabFunction{std::string(*name), entry, 0});
  }
  uint64_t end = 0;
  if (!absolute(field(2 * count), end)) return Error{"corrupt pclntab: end of text overflows the address space"};
  if (end < previous_entry) return Error{"corrupt pclntab: end of text lies before the last function"};
  for (size_t i = 0; i + 1 < result.functions.size(); ++i) result.functions[i].end = result.functions[i + 1].entry;
  result.functions.back().end = end;
  result.text_end = end;
  return result;
}

}  // namespace dwcp::goelf
