// Builders for synthetic Go tables (pclntab in every header format, .go.buildinfo in both
// layouts), used by the tests and to seed the fuzzers. The toolchain here is Go 1.19 only, so
// the 1.16, 1.20 and 1.26 formats exist nowhere else on this machine.
#pragma once

#include <elf.h>
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
  size_t functab_offset = 0;  // from the table start
  size_t func_records_offset = 0;
  size_t field_size = 0;   // 8 for 1.16, 4 for 1.18+
  size_t record_size = 0;  // bytes of each _func we emit (entry + nameoff)
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
  word(w++, names_offset);           // funcnametab
  word(w++, names_offset);           // cutab (unused by the reader)
  word(w++, names_offset);           // filetab (unused)
  word(w++, names_offset);           // pctab (unused)
  word(w++, layout.functab_offset);  // pclntab/functab
  std::memcpy(&out[names_offset], names.data(), names.size());

  auto entry_field = [&](uint64_t address) { return go116 ? address : address - text_start; };
  auto put_field = [&](size_t at, uint64_t v) {
    if (go116)
      put_u64(out, at, v);
    else
      put_u32(out, at, static_cast<uint32_t>(v));
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
  const std::string start(
      "0w\xaf\x0c\x92t\x08\x02"
      "A\xe1\xc1\x07\xe6\xd6\x18\xe6",
      16);
  const std::string end(
      "\xf9"
      "2C1\x86\x18 r\x00\x82"
      "B\x10"
      "A\x16\xd8\xf2",
      16);
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

// A small but complete x86-64 Go-like ELF executable: one R+X PT_LOAD at 0x400000 covering the
// file; .text with three functions (the second has two RETs and a C3 byte inside an immediate);
// a pclntab in the given format; .go.buildinfo; .note.go.buildid; optionally .symtab.
constexpr uint64_t kSyntheticBase = 0x400000;
constexpr uint64_t kSyntheticTextOffset = 0x200;
constexpr uint64_t kSyntheticText = kSyntheticBase + kSyntheticTextOffset;
constexpr uint64_t kSyntheticFunctionSize = 0x40;
inline const std::vector<SyntheticFunction>& synthetic_elf_functions() {
  static const std::vector<SyntheticFunction> functions = {
      {"runtime.text.stub", kSyntheticText},
      {"github.com/khryptorgraphics/novacron/backend/core/network/dwcp/transport.(*MultiStreamTCP).sendChunk",
       kSyntheticText + kSyntheticFunctionSize},
      {"main.main", kSyntheticText + 2 * kSyntheticFunctionSize},
  };
  return functions;
}
// Offsets of the RETs of function 1 within it (see the code below).
inline std::vector<uint64_t> synthetic_sendchunk_rets() { return {10, 18}; }

inline std::vector<uint8_t> build_elf(uint32_t pclntab_magic, bool with_symtab) {
  std::vector<uint8_t> out(kSyntheticTextOffset, 0);
  // .text
  // Go's stack check (cmp rsp, [r14+0x10]) then mov rax, rcx; ret: two of the three functions start
  // like Go code, as most of a real Go binary's do (GoBinary refuses a table over code that does not).
  const std::vector<uint8_t> simple = {0x49, 0x3b, 0x66, 0x10, 0x48, 0x89, 0xc8, 0xc3};
  const std::vector<uint8_t> two_rets = {0x48, 0x85, 0xc0, 0x74, 0x06, 0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3,
                                         0x48, 0xc7, 0xc1, 0xc3, 0xc3, 0xc3, 0x00, 0xc2, 0x08, 0x00};
  for (const auto* code : {&simple, &two_rets, &simple}) {
    std::vector<uint8_t> function(kSyntheticFunctionSize, 0xcc);  // int3 padding, as Go emits
    std::memcpy(function.data(), code->data(), code->size());
    out.insert(out.end(), function.begin(), function.end());
  }
  const uint64_t text_end = kSyntheticText + 3 * kSyntheticFunctionSize;

  struct Blob {
    std::string name;
    uint32_t type;
    uint64_t flags;
    std::vector<uint8_t> bytes;
    uint32_t link = 0;
    uint64_t entsize = 0;
    uint64_t offset = 0;
  };
  std::vector<Blob> blobs;
  const bool go116 = pclntab_magic == 0xfffffffa;
  // 1.26 (magic f1 and no stored text start) is asked for with magic 0 here.
  const uint32_t magic = pclntab_magic == 0 ? 0xfffffff1 : pclntab_magic;
  const uint64_t field = (pclntab_magic == 0 || go116) ? 0 : kSyntheticText;
  blobs.push_back({".gopclntab", SHT_PROGBITS, SHF_ALLOC,
                   build_pclntab(magic, kSyntheticText, field, synthetic_elf_functions(), text_end)});
  blobs.push_back(
      {".go.buildinfo", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, build_inline_buildinfo("go1.26.0", sample_modinfo())});
  {
    std::vector<uint8_t> note(12, 0);
    const std::string id = "synthetic/build/id/for-tests";
    put_u32(note, 0, 4);
    put_u32(note, 4, static_cast<uint32_t>(id.size()));
    put_u32(note, 8, 4);
    note.insert(note.end(), {'G', 'o', 0, 0});
    note.insert(note.end(), id.begin(), id.end());
    while (note.size() % 4) note.push_back(0);
    blobs.push_back({".note.go.buildid", SHT_NOTE, SHF_ALLOC, note});
  }
  if (with_symtab) {
    std::vector<uint8_t> strtab(1, 0);
    std::vector<uint8_t> symtab(sizeof(Elf64_Sym), 0);
    for (const auto& f : synthetic_elf_functions()) {
      Elf64_Sym sym{};
      sym.st_name = static_cast<uint32_t>(strtab.size());
      sym.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
      sym.st_shndx = 1;  // .text
      sym.st_value = f.entry;
      sym.st_size = f.name == "main.main" ? 4 : 21;
      if (f.name == "runtime.text.stub") sym.st_size = 4;
      strtab.insert(strtab.end(), f.name.begin(), f.name.end());
      strtab.push_back(0);
      const auto* raw = reinterpret_cast<const uint8_t*>(&sym);
      symtab.insert(symtab.end(), raw, raw + sizeof sym);
    }
    // .symtab links to the section that follows it (.strtab): index = 2 + blobs.size() + 1.
    blobs.push_back({".symtab", SHT_SYMTAB, 0, symtab, 0, sizeof(Elf64_Sym)});
    blobs.back().link = static_cast<uint32_t>(2 + blobs.size());
    blobs.push_back({".strtab", SHT_STRTAB, 0, strtab});
  }
  for (auto& blob : blobs) {
    while (out.size() % 8) out.push_back(0);
    blob.offset = out.size();
    out.insert(out.end(), blob.bytes.begin(), blob.bytes.end());
  }
  // .shstrtab, then the section headers: [0] null, [1] .text, blobs..., .shstrtab.
  std::vector<uint8_t> shstrtab(1, 0);
  auto add_name = [&](const std::string& name) {
    const uint32_t at = static_cast<uint32_t>(shstrtab.size());
    shstrtab.insert(shstrtab.end(), name.begin(), name.end());
    shstrtab.push_back(0);
    return at;
  };
  std::vector<Elf64_Shdr> headers(1);
  Elf64_Shdr text{};
  text.sh_name = add_name(".text");
  text.sh_type = SHT_PROGBITS;
  text.sh_flags = SHF_ALLOC | SHF_EXECINSTR;
  text.sh_addr = kSyntheticText;
  text.sh_offset = kSyntheticTextOffset;
  text.sh_size = text_end - kSyntheticText;
  headers.push_back(text);
  for (const auto& blob : blobs) {
    Elf64_Shdr h{};
    h.sh_name = add_name(blob.name);
    h.sh_type = blob.type;
    h.sh_flags = blob.flags;
    h.sh_addr = (blob.flags & SHF_ALLOC) ? kSyntheticBase + blob.offset : 0;
    h.sh_offset = blob.offset;
    h.sh_size = blob.bytes.size();
    h.sh_link = blob.link;
    h.sh_entsize = blob.entsize;
    headers.push_back(h);
  }
  Elf64_Shdr names{};
  names.sh_name = add_name(".shstrtab");
  names.sh_type = SHT_STRTAB;
  names.sh_offset = out.size();
  names.sh_size = shstrtab.size();
  headers.push_back(names);
  out.insert(out.end(), shstrtab.begin(), shstrtab.end());
  while (out.size() % 8) out.push_back(0);
  const uint64_t shoff = out.size();
  for (const auto& h : headers) {
    const auto* raw = reinterpret_cast<const uint8_t*>(&h);
    out.insert(out.end(), raw, raw + sizeof h);
  }

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = kSyntheticText;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_shoff = shoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = static_cast<uint16_t>(headers.size());
  eh.e_shstrndx = static_cast<uint16_t>(headers.size() - 1);
  std::memcpy(out.data(), &eh, sizeof eh);
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_X;
  ph.p_offset = 0;
  ph.p_vaddr = ph.p_paddr = kSyntheticBase;
  ph.p_filesz = ph.p_memsz = out.size();
  ph.p_align = 0x1000;
  std::memcpy(out.data() + sizeof eh, &ph, sizeof ph);
  return out;
}

}  // namespace goelf_test
