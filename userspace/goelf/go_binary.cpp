#include "goelf/go_binary.h"
#include "dwcp_observer/text.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "goelf/ret_finder.h"

namespace dwcp::goelf {

namespace {

// Go binaries of hundreds of MB exist; several GB is not a program we are meant to probe.
constexpr uint64_t kMaxFileSize = uint64_t{4} << 30;
// Functions larger than this are not Go functions anyone probes; refusing bounds decode time.
constexpr uint64_t kMaxFunctionSize = 16 << 20;
// moduledata field offsets (runtime/symtab.go): pcHeader *pcHeader at 0, then five slices
// (funcnametab, cutab, filetab, pctab, pclntable) and ftab (3 words each), findfunctab, then
// minpc, maxpc, text, etext. Unchanged from Go 1.16 through 1.26.
constexpr uint64_t kModuledataMinpc = 20 * 8;
constexpr uint64_t kModuledataText = 22 * 8;
constexpr uint64_t kModuledataEtext = 23 * 8;
// amd64 function alignment (cmd/internal/sys: Arch.Alignment for funcs is 32); runtime.etext is
// at least 16-aligned in every Go 1.26/1.27 build seen (tests/integration/test_go_matrix.py).
constexpr uint64_t kFunctionAlignment = 32;
constexpr uint64_t kEtextAlignment = 16;

std::string to_hex(ByteView bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    out += digits[bytes.data()[i] >> 4];
    out += digits[bytes.data()[i] & 15];
  }
  return out;
}

// Walks the notes of a SHT_NOTE section: (namesz, descsz, type, name padded to 4, desc padded to 4).
// Returns the descriptor of the first note with this owner name and type.
std::optional<ByteView> find_note(ByteView notes, std::string_view owner, uint32_t type) {
  uint64_t offset = 0;
  auto align4 = [](uint64_t v) { return (v + 3) & ~uint64_t{3}; };
  while (notes.contains(offset, 12)) {
    const uint32_t name_size = *notes.u32(offset);
    const uint32_t desc_size = *notes.u32(offset + 4);
    const uint32_t note_type = *notes.u32(offset + 8);
    const uint64_t name_at = offset + 12;
    const uint64_t desc_at = name_at + align4(name_size);
    auto name = notes.sub(name_at, name_size);
    auto desc = notes.sub(desc_at, desc_size);
    if (!name || !desc) return std::nullopt;
    std::string_view name_text = name->as_string_view();
    while (!name_text.empty() && name_text.back() == '\0') name_text.remove_suffix(1);
    if (note_type == type && name_text == owner) return desc;
    offset = desc_at + align4(desc_size);
  }
  return std::nullopt;
}

}  // namespace

bool in_package(std::string_view name, std::string_view package) {
  return !package.empty() && name.size() > package.size() && name.compare(0, package.size(), package) == 0 &&
         (name[package.size()] == '.' || name[package.size()] == '/');
}

bool holds_package(const std::vector<std::string>& sorted_names, std::string_view package) {
  if (package.empty()) return false;
  for (auto it = std::lower_bound(sorted_names.begin(), sorted_names.end(), package);
       it != sorted_names.end() && it->compare(0, package.size(), package) == 0; ++it) {
    if (in_package(*it, package)) return true;
  }
  return false;
}

const char* to_string(SymbolSource source) {
  switch (source) {
    case SymbolSource::symtab:
      return "symtab";
    case SymbolSource::pclntab:
      return "pclntab";
    case SymbolSource::symtab_and_pclntab:
      return "symtab+pclntab";
  }
  return "?";
}

Result<GoBinary> GoBinary::open(const std::string& path) {
  // Mapped, not read: binaries of hundreds of MB are only touched where the tables are. The
  // executable of a running target cannot be written or truncated (ETXTBSY), so the mapping
  // stays valid while we read it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  struct stat info {};
  const bool stated = ::fstat(fd, &info) == 0;
  const int stat_errno = errno;
  Result<std::shared_ptr<const FileBytes>> bytes = Error{""};
  if (stated && S_ISREG(info.st_mode) && static_cast<uint64_t>(info.st_size) <= kMaxFileSize)
    bytes = FileBytes::map(fd, static_cast<uint64_t>(info.st_size), path);
  ::close(fd);
  if (!stated) return Error{"cannot open " + path + ": " + std::strerror(stat_errno)};
  if (!S_ISREG(info.st_mode)) return Error{path + " is not a regular file"};
  if (static_cast<uint64_t>(info.st_size) > kMaxFileSize) return Error{path + " is larger than 4 GiB: not probing it"};
  if (!bytes) return Error{bytes.error()};
  return from_elf(ElfImage::parse(std::move(bytes).value()), path);
}

Result<GoBinary> GoBinary::from_bytes(std::vector<uint8_t> bytes, std::string display_name) {
  return from_elf(ElfImage::parse(std::move(bytes)), std::move(display_name));
}

Result<GoBinary> GoBinary::from_elf(Result<ElfImage> elf, std::string display_name) {
  if (!elf) return Error{display_name + ": " + elf.error()};
  GoBinary binary(std::move(elf).value(), std::move(display_name));
  binary.read_notes();
  binary.read_build_info();
  binary.read_pclntab();
  binary.is_go_ = binary.pclntab_.has_value() || binary.elf_.section(".go.buildinfo") != nullptr ||
                  !binary.go_build_id_.empty() || binary.elf_.section(".gopclntab") != nullptr;

  for (size_t i = 0; i < binary.elf_.function_symbols().size(); ++i) {
    const ElfSymbol& symbol = binary.elf_.function_symbols()[i];
    auto [it, inserted] = binary.symtab_index_.emplace(symbol.name, i);
    if (!inserted && it->second != kAmbiguous && binary.elf_.function_symbols()[it->second].value != symbol.value) {
      it->second = kAmbiguous;
    }
  }
  if (binary.pclntab_) {
    for (size_t i = 0; i < binary.pclntab_->functions.size(); ++i) {
      const std::string& name = binary.pclntab_->functions[i].name;
      auto [it, inserted] = binary.pclntab_index_.emplace(name, i);
      if (!inserted) {
        // Go functions called from assembly (and assembly called through func values) get an
        // ABI wrapper under the same name; .symtab tells them apart with a ".abi0" suffix.
        auto& same = binary.pclntab_duplicates_[name];
        if (same.empty()) same.push_back(it->second);
        same.push_back(i);
        it->second = kAmbiguous;
      }
    }
  }
  return binary;
}

void GoBinary::read_notes() {
  for (const Section& section : elf_.sections()) {
    if (section.type != SHT_NOTE) continue;
    auto notes = elf_.section_bytes(section);
    if (!notes) continue;
    if (gnu_build_id_.empty()) {
      if (auto id = find_note(*notes, "GNU", NT_GNU_BUILD_ID)) gnu_build_id_ = to_hex(*id);
    }
    if (go_build_id_.empty()) {
      // Go's linker writes its build id as a note owned by "Go" of type 4 (cmd/link ELF_NOTE_GOBUILDID_TAG).
      if (auto id = find_note(*notes, "Go", 4)) {
        std::string_view text = id->as_string_view();
        while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
        go_build_id_ = std::string(text);
      }
    }
  }
  build_id_ = !gnu_build_id_.empty() ? gnu_build_id_ : go_build_id_;
}

void GoBinary::read_build_info() {
  const Section* section = elf_.section(".go.buildinfo");
  if (section == nullptr) {
    build_info_error_ = "no .go.buildinfo section";
    return;
  }
  auto blob = elf_.section_bytes(*section);
  if (!blob) {
    build_info_error_ = ".go.buildinfo lies outside the file";
    return;
  }
  auto info =
      parse_buildinfo(*blob, [this](uint64_t vaddr, uint64_t length) { return elf_.bytes_at_vaddr(vaddr, length); });
  if (!info) {
    build_info_error_ = info.error();
    return;
  }
  build_info_ = std::move(info).value();
}

std::optional<GoBinary::TextRange> GoBinary::text_from_moduledata(uint64_t table_vaddr) const {
  // runtime.firstmoduledata starts with a pointer to the pclntab header. Go 1.26 gives it a
  // section of its own (.go.module); before that it lives in .noptrdata (or .data).
  // A pointer-sized word equal to the table address could be a coincidence: require the fields
  // around it to look like a moduledata (text <= minpc < etext, all in executable code).
  auto check = [this](uint64_t base) -> std::optional<TextRange> {
    auto minpc = elf_.read_pointer(base + kModuledataMinpc);
    auto text = elf_.read_pointer(base + kModuledataText);
    auto etext = elf_.read_pointer(base + kModuledataEtext);
    if (!minpc || !text || !etext || *text == 0 || *text > *minpc || *minpc >= *etext) return std::nullopt;
    if (!elf_.is_executable_range(*text, *etext - *text)) return std::nullopt;
    return TextRange{*text, *etext};
  };
  for (const char* name : {".go.module", ".noptrdata", ".data"}) {
    const Section* section = elf_.section(name);
    if (section == nullptr) continue;
    auto bytes = elf_.section_bytes(*section);
    if (!bytes) continue;
    for (uint64_t offset = 0; offset + kModuledataEtext + 8 <= bytes->size(); offset += 8) {
      if (*bytes->u64(offset) != table_vaddr) continue;
      if (auto range = check(section->addr + offset)) return range;
    }
    // Externally linked PIE: the words are 0 in the file and the pointer is a relocation addend.
    for (uint64_t site : elf_.relative_relocations_to(table_vaddr)) {
      if (site >= section->addr && site - section->addr < section->size) {
        if (auto range = check(site)) return range;
      }
    }
  }
  return std::nullopt;
}

bool GoBinary::is_alignment_padding(uint64_t table_end, uint64_t etext) const {
  // Go 1.26+ linkers place runtime.etext (moduledata.etext) on an alignment boundary after the
  // last function the table lists (go:textfipsend, one byte long), so the two differ by up to
  // the function alignment. That gap is padding only if it is shorter than the alignment, ends
  // on the alignment, and holds no code: nothing but what Go's linker fills function padding
  // with, INT3 (0xcc) on amd64 and zero words (UDF #0, permanently undefined) on arm64. No
  // function can start there: the table ends before it.
  if (etext <= table_end || etext - table_end >= kFunctionAlignment || etext % kEtextAlignment != 0) return false;
  auto gap = elf_.bytes_at_vaddr(table_end, etext - table_end);
  if (!gap) return false;
  const uint8_t fill = elf_.arch() == Arch::Arm64 ? 0x00 : 0xcc;
  for (uint64_t i = 0; i < gap->size(); ++i) {
    if (*gap->u8(i) != fill) return false;
  }
  return true;
}

Result<Pclntab> GoBinary::read_pclntab_at(ByteView table, uint64_t table_vaddr) {
  auto header = parse_pclntab_header(table);
  if (!header) return Error{header.error()};
  if (header->quantum != (elf_.arch() == Arch::Arm64 ? 4 : 1)) {
    return Error{"pclntab instruction quantum " + std::to_string(header->quantum) + " does not fit an " +
                 arch_name(elf_.arch()) + " ELF file: table and binary do not match"};
  }

  const Section* text_section = elf_.section(".text");
  uint64_t text_start = 0;
  std::string source;
  std::optional<uint64_t> moduledata_etext;
  std::string version = header->version;
  if (header->has_text_start_field) {
    // The stored textStart (Go 1.18-1.25). For PIE the file word may be 0 with the value in an
    // R_X86_64_RELATIVE addend (external linking); read_pointer covers both, and a relocated
    // value means the table is pre-1.26 even though the file word is 0.
    auto stored = elf_.read_pointer(table_vaddr + header->text_start_field_offset);
    if (stored && *stored != 0) {
      text_start = *stored;
      source = "pclntab header";
      if (version == "1.26") version = "1.20";
    } else if (auto symbol = elf_.symbol_address("runtime.text")) {
      // Go 1.26+: the header no longer records the text start; runtime.text is that address.
      text_start = *symbol;
      source = "runtime.text";
    } else if (auto from_moduledata = text_from_moduledata(table_vaddr)) {
      // Stripped Go 1.26+: the runtime itself reads moduledata.text.
      text_start = from_moduledata->text;
      moduledata_etext = from_moduledata->etext;
      source = "moduledata";
    } else if (text_section != nullptr) {
      // Last resort: with Go's internal linker (no cgo), .text starts with runtime.text. That is
      // false for external linking (C code comes first), so this choice is verified below: the
      // table must end exactly where .text ends, which external linking would not give.
      text_start = text_section->addr;
      source = ".text section";
    }
  }

  auto parsed = parse_pclntab(table, text_start);
  if (!parsed) return Error{parsed.error()};
  parsed->header.version = version;
  if (source == ".text section" && parsed->text_end != text_section->addr + text_section->size) {
    return Error{"Go " + version + " pclntab has no text start and .text (" + hex(text_section->addr) + "-" +
                 hex(text_section->addr + text_section->size) +
                 ") does not match the table's extent: cannot place functions safely (externally linked? "
                 "keep the symbol table, i.e. build without -s)"};
  }
  if (moduledata_etext && parsed->text_end != *moduledata_etext &&
      !is_alignment_padding(parsed->text_end, *moduledata_etext)) {
    return Error{"pclntab end of text " + hex(parsed->text_end) + " disagrees with moduledata.etext " +
                 hex(*moduledata_etext) + " (not just alignment padding): refusing to guess"};
  }
  // Cross-check against runtime.text when both are known.
  if (source == "pclntab header") {
    if (auto symbol = elf_.symbol_address("runtime.text"); symbol && *symbol != text_start) {
      return Error{"pclntab textStart " + hex(text_start) + " disagrees with runtime.text " + hex(*symbol)};
    }
  }
  // Every function must lie in file-backed executable code.
  const uint64_t first = parsed->functions.front().entry;
  if (!elf_.is_executable_range(first, parsed->text_end - first)) {
    return Error{"pclntab functions (" + hex(first) + "-" + hex(parsed->text_end) +
                 ") lie outside the executable segments: table and binary do not match"};
  }
  if (text_section != nullptr &&
      (first < text_section->addr || parsed->text_end > text_section->addr + text_section->size)) {
    return Error{"pclntab functions (" + hex(first) + "-" + hex(parsed->text_end) + ") lie outside .text"};
  }
  if (auto shaped = go_shaped_share(*parsed); shaped * 4 < 1) {
    return Error{"the pclntab's functions do not start like Go code (" + std::to_string(int(shaped * 100)) +
                 " % of those sampled begin with Go's stack check; Go's own binaries: ~70 %): the table "
                 "does not describe this binary's code"};
  }
  text_start_source_ = header->has_text_start_field ? source : "absolute entries";
  return parsed;
}

double GoBinary::go_shaped_share(const Pclntab& table) const {
  // Evenly spread entries, at most kSamples: a fixed cost whatever the table claims.
  constexpr size_t kSamples = 256;
  const size_t count = table.functions.size();
  if (count == 0) return 0;
  const size_t step = std::max<size_t>(1, count / kSamples);
  size_t sampled = 0, shaped = 0;
  for (size_t i = 0; i < count && sampled < kSamples; i += step, ++sampled) {
    const PclntabFunction& fn = table.functions[i];
    auto head = elf_.bytes_at_vaddr(fn.entry, std::min<uint64_t>(fn.end - fn.entry, 32));
    if (head && starts_with_go_stack_check(elf_.arch(), *head, fn.entry)) ++shaped;
  }
  return static_cast<double>(shaped) / static_cast<double>(sampled);
}

void GoBinary::read_pclntab() {
  // Non-PIE: .gopclntab. Internally linked PIE: .data.rel.ro.gopclntab (it needs relocations
  // before Go 1.26). Otherwise the runtime.pclntab symbol, and finally a scan for the header.
  std::vector<std::pair<ByteView, uint64_t>> candidates;
  for (const char* name : {".gopclntab", ".data.rel.ro.gopclntab"}) {
    if (const Section* section = elf_.section(name)) {
      if (auto bytes = elf_.section_bytes(*section)) candidates.emplace_back(*bytes, section->addr);
    }
  }
  if (candidates.empty()) {
    if (auto address = elf_.symbol_address("runtime.pclntab")) {
      for (const Section& section : elf_.sections()) {
        if (section.type == SHT_NOBITS || *address < section.addr || *address - section.addr >= section.size) continue;
        if (auto bytes = elf_.section_bytes(section)) {
          if (auto tail = bytes->from(*address - section.addr)) candidates.emplace_back(*tail, *address);
        }
      }
    }
  }
  bool scanned = false;
  if (candidates.empty()) {
    // Externally linked PIE merges the table into .data.rel.ro under no name of its own. The
    // table is pointer-aligned; a match is only accepted after the full checks below.
    scanned = true;
    for (const Section& section : elf_.sections()) {
      if (section.type != SHT_PROGBITS || (section.flags & SHF_ALLOC) == 0 || (section.flags & SHF_EXECINSTR)) continue;
      auto bytes = elf_.section_bytes(section);
      if (!bytes) continue;
      for (uint64_t offset = 0; offset + 16 <= bytes->size(); offset += 8) {
        const uint32_t magic = *bytes->u32(offset);
        if (magic != kPclntabMagic116 && magic != kPclntabMagic118 && magic != kPclntabMagic120) continue;
        if (*bytes->u16(offset + 4) != 0 || *bytes->u8(offset + 6) != 1 || *bytes->u8(offset + 7) != 8) continue;
        candidates.emplace_back(*bytes->from(offset), section.addr + offset);
      }
    }
  }
  if (candidates.empty()) {
    pclntab_error_ =
        "no Go pclntab found (no .gopclntab section, no runtime.pclntab symbol, no table header in the data)";
    return;
  }
  for (const auto& [bytes, vaddr] : candidates) {
    auto table = read_pclntab_at(bytes, vaddr);
    if (table) {
      pclntab_version_ = table->header.version;
      pclntab_ = std::move(table).value();
      pclntab_error_.clear();
      return;
    }
    if (pclntab_error_.empty()) pclntab_error_ = table.error();
  }
  if (scanned) pclntab_error_ = "no valid Go pclntab found (" + pclntab_error_ + ")";
}

Result<Function> GoBinary::find_function(std::string_view name) const {
  const std::string key(name);
  if (!elf_.has_symtab() && !pclntab_) {
    if (!is_go_) {
      return Error{name_ + " is not a Go binary and has no symbol table: cannot resolve " + key};
    }
    return Error{name_ + " has no symbol table and its pclntab is unusable (" + pclntab_error_ + "): cannot resolve " +
                 key};
  }

  std::optional<Function> from_symtab;
  if (auto it = symtab_index_.find(key); it != symtab_index_.end()) {
    if (it->second == kAmbiguous) return Error{key + " names several functions at different addresses in .symtab"};
    const ElfSymbol& symbol = elf_.function_symbols()[it->second];
    from_symtab = Function{key, symbol.value, symbol.size, 0, SymbolSource::symtab};
  }
  std::optional<Function> from_pclntab;
  if (pclntab_) {
    if (auto it = pclntab_index_.find(key); it != pclntab_index_.end()) {
      size_t index = it->second;
      if (index == kAmbiguous) {
        // Only the symtab can say which copy carries the plain name: take the copy at its address.
        const auto& copies = pclntab_duplicates_.at(key);
        for (size_t copy : copies) {
          if (from_symtab && pclntab_->functions[copy].entry == from_symtab->vaddr) index = copy;
        }
        if (index == kAmbiguous) {
          return Error{key + " appears " + std::to_string(copies.size()) +
                       " times in the pclntab (a function and its ABI0/ABIInternal wrapper) and there is "
                       "no symbol table to tell which is which: refusing to guess (keep the symbol table, "
                       "or probe a function that is not called from assembly)"};
        }
      }
      const PclntabFunction& entry = pclntab_->functions[index];
      from_pclntab = Function{key, entry.entry, entry.end - entry.entry, 0, SymbolSource::pclntab};
    }
  }

  Function function;
  if (from_symtab && from_pclntab) {
    if (from_symtab->vaddr != from_pclntab->vaddr) {
      return Error{"symtab and pclntab disagree about " + key + " (" + hex(from_symtab->vaddr) + " vs " +
                   hex(from_pclntab->vaddr) + "): refusing to guess"};
    }
    if (from_symtab->size > from_pclntab->size) {
      return Error{"symtab size of " + key + " runs past the next function in the pclntab: refusing to guess"};
    }
    function = *from_symtab;
    // st_size is exact; the pclntab's size also spans the alignment padding after the code.
    if (function.size == 0) function.size = from_pclntab->size;
    function.source = SymbolSource::symtab_and_pclntab;
  } else if (from_symtab) {
    function = *from_symtab;
  } else if (from_pclntab) {
    function = *from_pclntab;
  } else {
    std::string message = "function " + key + " not found in " + name_;
    if (!elf_.has_symtab()) message += " (stripped: searched the pclntab only)";
    if (!pclntab_ && !pclntab_error_.empty() && is_go_) message += " (pclntab unusable: " + pclntab_error_ + ")";
    return Error{message + did_you_mean(name)};
  }

  if (function.size == 0) return Error{key + " has size 0: nothing to probe"};
  if (!elf_.is_executable_range(function.vaddr, function.size)) {
    return Error{key + " at " + hex(function.vaddr) + " (+" + std::to_string(function.size) +
                 ") is not inside executable file-backed code"};
  }
  auto offset = elf_.vaddr_to_offset(function.vaddr, function.size);
  if (!offset) return Error{key + ": " + offset.error()};
  function.file_offset = *offset;
  if (auto entry = check_entry(function); !entry) return Error{key + ": " + entry.error()};
  return function;
}

Result<bool> GoBinary::check_entry(const Function& fn) const {
  // Neither table is trusted alone to say where an instruction starts (a symbol pointing inside
  // one got a probe that corrupted its process; a pclntab pasted into a C binary names thousands
  // of places in C code). The entry must be where a linear sweep from the nearest lower place
  // known to start code — a function entry of either table, or an executable section's start —
  // lands. Go pads between functions with INT3, so the sweep is exact on Go's own code; the
  // cost is the preceding function's size.
  std::optional<uint64_t> anchor;
  auto consider = [&](uint64_t address) {
    if (address < fn.vaddr && (!anchor || address > *anchor)) anchor = address;
  };
  for (const ElfSymbol& symbol : elf_.function_symbols()) consider(symbol.value);
  if (pclntab_) {
    for (const PclntabFunction& other : pclntab_->functions) consider(other.entry);
  }
  for (const Section& section : elf_.sections()) {
    if ((section.flags & SHF_EXECINSTR) != 0 && section.addr <= fn.vaddr) consider(section.addr);
  }
  if (!anchor) return true;  // the first byte of executable code: nothing precedes it
  const uint64_t distance = fn.vaddr - *anchor;
  if (distance > kMaxFunctionSize) {
    return Error{"the nearest code start before " + hex(fn.vaddr) + " is " + std::to_string(distance) +
                 " bytes away: cannot check that the entry starts an instruction, not probing it"};
  }
  // Up to one longest instruction (15 bytes) past the entry, so that one spanning it decodes.
  auto code = elf_.bytes_at_vaddr(*anchor, distance + 15);
  if (!code) code = elf_.bytes_at_vaddr(*anchor, distance);
  if (!code || !elf_.is_executable_range(*anchor, distance)) {
    return Error{"the code before the entry " + hex(fn.vaddr) + " is not in the file: cannot check it, not probing it"};
  }
  auto starts = starts_instruction(elf_.arch(), *code, *anchor, fn.vaddr);
  if (!starts) return Error{starts.error() + ": cannot check that the entry starts an instruction, not probing it"};
  if (!*starts) {
    return Error{"entry " + hex(fn.vaddr) + " is inside an instruction (decoding from " + hex(*anchor) +
                 "): the symbol tables are wrong or forged, not probing it"};
  }
  return true;
}

Result<std::vector<uint64_t>> GoBinary::ret_offsets(const Function& fn) const {
  if (fn.size == 0 || fn.size > kMaxFunctionSize) {
    return Error{fn.name + ": function size " + std::to_string(fn.size) + " is not plausible"};
  }
  if (!elf_.is_executable_range(fn.vaddr, fn.size)) {
    return Error{fn.name + " at " + hex(fn.vaddr) + " is not inside executable file-backed code"};
  }
  auto code = elf_.bytes_at_vaddr(fn.vaddr, fn.size);
  auto offset = elf_.vaddr_to_offset(fn.vaddr, fn.size);
  if (!code || !offset) return Error{fn.name + ": code bytes are not in the file"};
  auto rets = find_ret_offsets(elf_.arch(), *code, fn.vaddr);
  if (!rets) return Error{fn.name + ": " + rets.error()};
  for (uint64_t& ret : *rets) ret += *offset;
  return rets;
}

uint64_t GoBinary::entry_probe_offset(const Function& fn) const {
  // The longest form is 20 bytes (x86-64: LEAQ disp32 8, CMPQ 4, Jcc rel32 6; arm64: 4 words).
  constexpr uint64_t kHead = 20;
  const uint64_t size = std::min<uint64_t>(fn.size, kHead);
  auto code = elf_.is_executable_range(fn.vaddr, size) ? elf_.bytes_at_vaddr(fn.vaddr, size) : std::nullopt;
  if (!code) return fn.file_offset;
  return fn.file_offset + stack_check_branch_offset(elf_.arch(), *code);
}

std::vector<std::string> GoBinary::function_names() const {
  std::set<std::string> names;
  for (const ElfSymbol& symbol : elf_.function_symbols()) names.insert(symbol.name);
  if (pclntab_) {
    for (const PclntabFunction& function : pclntab_->functions) names.insert(function.name);
  }
  return {names.begin(), names.end()};
}

bool GoBinary::holds_package(std::string_view package) const {
  for (const ElfSymbol& symbol : elf_.function_symbols())
    if (in_package(symbol.name, package)) return true;
  if (pclntab_)
    for (const PclntabFunction& function : pclntab_->functions)
      if (in_package(function.name, package)) return true;
  return false;
}

bool GoBinary::names(std::string_view name) const {
  const std::string key(name);
  return symtab_index_.count(key) != 0 || pclntab_index_.count(key) != 0;
}

std::string GoBinary::did_you_mean(std::string_view name) const {
  // Suggest functions with the same last component (method or function name): the usual slip
  // is the package path or the receiver, e.g. "(*T).f" written "T.f".
  const size_t dot = name.rfind('.');
  const std::string_view tail = dot == std::string_view::npos ? name : name.substr(dot);
  if (tail.size() < 2) return "";
  std::vector<std::string> matches;
  for (const std::string& candidate : function_names()) {
    if (candidate.size() >= tail.size() && candidate.compare(candidate.size() - tail.size(), tail.size(), tail) == 0) {
      matches.push_back(candidate);
      if (matches.size() == 3) break;
    }
  }
  if (matches.empty()) return "";
  std::string text = "; did you mean: ";
  for (size_t i = 0; i < matches.size(); ++i) text += (i ? ", " : "") + matches[i];
  return text;
}

}  // namespace dwcp::goelf
