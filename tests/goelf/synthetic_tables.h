// Builders for synthetic Go tables (pclntab in every header format, .go.buildinfo in both
// layouts), used by the tests and to seed the fuzzers. The toolchain here is Go 1.19 only, so
// the 1.16, 1.20 and 1.26 formats exist nowhere else on this machine.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace goelf_test {

struct SyntheticFunction {
  std::string name;
  uint64_t entry;  // absolute address (the builder turns it into an offset for 1.18+)
};

inline void put_u32(std::vector<uint8_t>& out, size_t at, uint32_t v) { std::memcpy(&out[at], &v, 4); }
inline void put_u64(std::vector<uint8_t>& out, size_t at, uint64_t v) { std::memcpy(&out[at], &v, 8); }

struct PclntabLayout {
  size_t functab_offset = 0;    // from the table start
  size_t func_records_offset = 0;
  size_t field_size = 0;        // 8 for 1.16, 4 for 1.18+
  size_t record_size = 0;       // bytes of each _func we emit (entry + nameoff)
};

// magic: 0xfffffffa (1.16), 0xfffffff0 (1.18), 0xfffffff1 (1.20; with text_start_field = 0 it is 1.26).
// functions must be sorted; end is the address after the last function. No trailing bytes:
// every byte of the table is needed, so every strict prefix is a truncated table.
inline std::vector<uint8_t> build_pclntab(uint32_t magic, uint64_t text_start, uint64_t text_start_field,
                                          const std::vector<SyntheticFunction>& functions, uint64_t end,
                                          PclntabLayout* layout_out = nullptr) {
  const bool go116 = magic == 0xfffffffa;
  const size_t words = go116 ? 7 : 8;
  const size_t header_size = 8 + words * 8;
  std::string names;
  std::vector<uint32_t> name_offsets;
  for (const auto& f : functions) {
    name_offsets.push_back(static_cast<uint32_t>(names.size()));
    names += f.name;
    names += '\0';
  }
  PclntabLayout layout;
  layout.field_size = go116 ? 8 : 4;
  layout.record_size = go116 ? 12 : 8;
  const size_t names_offset = header_size;
  layout.functab_offset = (names_offset + names.size() + 7) & ~size_t{7};
  const size_t functab_size = (2 * functions.size() + 1) * layout.field_size;
  layout.func_records_offset = layout.functab_offset + functab_size;
  std::vector<uint8_t> out(layout.func_records_offset + functions.size() * layout.record_size, 0);

  put_u32(out, 0, magic);
  out[6] = 1;  // quantum
  out[7] = 8;  // pointer size
  auto word = [&](size_t i, uint64_t v) { put_u64(out, 8 + i * 8, v); };
  word(0, functions.size());
  word(1, 0);  // nfiles
  size_t w = 2;
  if (!go116) word(w++, text_start_field);
  word(w++, names_offset);             // funcnametab
  word(w++, names_offset);             // cutab (unused by the reader)
  word(w++, names_offset);             // filetab (unused)
  word(w++, names_offset);             // pctab (unused)
  word(w++, layout.functab_offset);    // pclntab/functab
  std::memcpy(&out[names_offset], names.data(), names.size());

  auto entry_field = [&](uint64_t address) { return go116 ? address : address - text_start; };
  auto put_field = [&](size_t at, uint64_t v) {
    if (go116) put_u64(out, at, v); else put_u32(out, at, static_cast<uint32_t>(v));
  };
  for (size_t i = 0; i < functions.size(); ++i) {
    const size_t record = layout.func_records_offset + i * layout.record_size;
    const uint64_t func_offset = record - layout.functab_offset;  // relative to the functab start
    put_field(layout.functab_offset + (2 * i) * layout.field_size, entry_field(functions[i].entry));
    put_field(layout.functab_offset + (2 * i + 1) * layout.field_size, func_offset);
    put_field(record, entry_field(functions[i].entry));
    put_u32(out, record + (go116 ? 8 : 4), name_offsets[i]);
  }
  put_field(layout.functab_offset + 2 * functions.size() * layout.field_size, entry_field(end));
  if (layout_out) *layout_out = layout;
  return out;
}

inline void append_uvarint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// Module info as the Go linker frames it: 16 sentinel bytes, the text (ending in '\n'), 16 more.
inline std::string frame_modinfo(const std::string& text) {
  const std::string start("0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6", 16);
  const std::string end("\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2", 16);
  return start + text + end;
}

// Go 1.18+ .go.buildinfo: 32-byte header then the two strings inline.
inline std::vector<uint8_t> build_inline_buildinfo(const std::string& version, const std::string& modinfo_text) {
  std::vector<uint8_t> out(32, 0);
  std::memcpy(out.data(), "\xff Go buildinf:", 14);
  out[14] = 8;
  out[15] = 2;  // inline strings
  const std::string mod = frame_modinfo(modinfo_text);
  append_uvarint(out, version.size());
  out.insert(out.end(), version.begin(), version.end());
  append_uvarint(out, mod.size());
  out.insert(out.end(), mod.begin(), mod.end());
  return out;
}

inline const char* sample_modinfo() {
  return "path\tgithub.com/khryptorgraphics/novacron/backend/cmd/api-server\n"
         "mod\tgithub.com/khryptorgraphics/novacron\tv1.4.2\th1:abcdef=\n"
         "dep\tgithub.com/klauspost/compress\tv1.17.0\th1:xyz=\n"
         "build\t-compiler=gc\n"
         "build\t-ldflags=\"-s -w\"\n"
         "build\tCGO_ENABLED=0\n"
         "build\tvcs=git\n"
         "build\tvcs.revision=0123456789abcdef0123456789abcdef01234567\n"
         "build\tvcs.time=2025-01-02T03:04:05Z\n"
         "build\tvcs.modified=true\n";
}

}  // namespace goelf_test
