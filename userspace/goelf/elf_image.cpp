#include "goelf/elf_image.h"
#include "dwcp_observer/text.h"

#include <elf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dwcp::goelf {

namespace {

// A load-base-relative pointer's relocation: R_X86_64_RELATIVE or R_AARCH64_RELATIVE (a file
// holds only one machine's relocations).
bool is_relative(uint64_t type) { return type == R_X86_64_RELATIVE || type == R_AARCH64_RELATIVE; }

// Names longer than this are not symbol names we could want; refusing them bounds the work
// a hostile string table can cause.
constexpr size_t kMaxNameLength = 64 * 1024;

template <class T>
std::optional<T> read_struct(ByteView bytes, uint64_t offset) {
  auto window = bytes.sub(offset, sizeof(T));
  if (!window) return std::nullopt;
  T value;
  std::memcpy(&value, window->data(), sizeof(T));
  return value;
}

}  // namespace

Result<std::shared_ptr<const FileBytes>> FileBytes::map(int fd, uint64_t size, const std::string& path) {
  std::shared_ptr<FileBytes> bytes(new FileBytes());
  if (size == 0) return std::shared_ptr<const FileBytes>(bytes);  // nothing to map; parse says "not ELF"
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapping == MAP_FAILED) return Error{"cannot map " + path + ": " + std::strerror(errno)};
  bytes->mapping_ = mapping;
  bytes->data_ = static_cast<const uint8_t*>(mapping);
  bytes->size_ = size;
  return std::shared_ptr<const FileBytes>(bytes);
}

std::shared_ptr<const FileBytes> FileBytes::own(std::vector<uint8_t> owned) {
  std::shared_ptr<FileBytes> bytes(new FileBytes());
  bytes->owned_ = std::move(owned);
  bytes->data_ = bytes->owned_.data();
  bytes->size_ = bytes->owned_.size();
  return bytes;
}

FileBytes::~FileBytes() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

Result<ElfImage> ElfImage::parse(std::shared_ptr<const FileBytes> bytes) {
  ElfImage image;
  image.bytes_ = std::move(bytes);
  auto headers = image.parse_headers();
  if (!headers) return Error{headers.error()};
  image.parse_symtab();
  return image;
}

Result<bool> ElfImage::parse_headers() {
  const ByteView file = bytes();
  if (file.size() < EI_NIDENT || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    return Error{"not an ELF file (no \\x7fELF magic)"};
  }
  if (file.data()[EI_CLASS] != ELFCLASS64) {
    return Error{"32-bit ELF files are not supported: only x86-64 and arm64 (ELFCLASS64) binaries can be probed"};
  }
  if (file.data()[EI_DATA] != ELFDATA2LSB) {
    return Error{"big-endian ELF files are not supported: only x86-64 and arm64 binaries can be probed"};
  }
  auto header = read_struct<Elf64_Ehdr>(file, 0);
  if (!header) return Error{"corrupt ELF: file shorter than its ELF header"};
  if (header->e_machine == EM_X86_64) {
    arch_ = Arch::Amd64;
  } else if (header->e_machine == EM_AARCH64) {
    arch_ = Arch::Arm64;
  } else {
    return Error{"ELF machine " + std::to_string(header->e_machine) +
                 " is neither x86-64 (EM_X86_64=62) nor arm64 (EM_AARCH64=183): only those can be probed"};
  }
  type_ = header->e_type;
  if (type_ != ET_EXEC && type_ != ET_DYN) {
    return Error{"ELF type " + std::to_string(type_) + " is not an executable (ET_EXEC/ET_DYN)"};
  }

  // Program headers: the loader's view, needed to turn addresses into file offsets.
  if (header->e_phnum > 0) {
    if (header->e_phentsize != sizeof(Elf64_Phdr)) return Error{"corrupt ELF: bad program header size"};
    for (uint32_t i = 0; i < header->e_phnum; ++i) {
      auto ph = read_struct<Elf64_Phdr>(file, header->e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
      if (!ph) return Error{"corrupt ELF: program header table lies outside the file"};
      Segment segment{ph->p_type, ph->p_flags, ph->p_offset, ph->p_vaddr, ph->p_filesz, ph->p_memsz};
      if (segment.type == PT_LOAD && !file.contains(segment.offset, segment.filesz)) {
        return Error{"corrupt ELF: a PT_LOAD segment lies outside the file (truncated binary?)"};
      }
      if (segment.type == PT_LOAD && segment.vaddr + segment.filesz < segment.vaddr) {
        return Error{"corrupt ELF: a PT_LOAD segment wraps around the address space"};
      }
      segments_.push_back(segment);
    }
  }

  // Section headers: where .symtab, .gopclntab and .go.buildinfo are. A file without them
  // (sstrip'ed) still parses; the Go tables are then simply not found.
  if (header->e_shnum == 0) return true;
  if (header->e_shentsize != sizeof(Elf64_Shdr)) return Error{"corrupt ELF: bad section header size"};
  std::vector<Elf64_Shdr> raw;
  raw.reserve(header->e_shnum);
  for (uint32_t i = 0; i < header->e_shnum; ++i) {
    auto sh = read_struct<Elf64_Shdr>(file, header->e_shoff + uint64_t{i} * sizeof(Elf64_Shdr));
    if (!sh) return Error{"corrupt ELF: section header table lies outside the file"};
    raw.push_back(*sh);
  }
  std::optional<ByteView> names;
  if (header->e_shstrndx < raw.size()) {
    const Elf64_Shdr& shstr = raw[header->e_shstrndx];
    names = file.sub(shstr.sh_offset, shstr.sh_size);
  }
  for (const Elf64_Shdr& sh : raw) {
    Section section;
    if (names) {
      auto name = names->c_string(sh.sh_name, kMaxNameLength);
      if (name) section.name = std::string(*name);
    }
    section.type = sh.sh_type;
    section.flags = sh.sh_flags;
    section.addr = sh.sh_addr;
    section.offset = sh.sh_offset;
    section.size = sh.sh_size;
    section.link = sh.sh_link;
    section.entsize = sh.sh_entsize;
    sections_.push_back(std::move(section));
  }
  return true;
}

void ElfImage::parse_symtab() {
  // A corrupt .symtab is treated as absent rather than fatal: the pclntab can still serve,
  // and a half-read symbol table must not be trusted.
  for (const Section& section : sections_) {
    if (section.type != SHT_SYMTAB) continue;
    if (section.link >= sections_.size()) return;
    auto table = section_bytes(section);
    auto strings = section_bytes(sections_[section.link]);
    if (!table || !strings) return;
    std::vector<ElfSymbol> functions;
    std::vector<ElfSymbol> others;
    for (uint64_t offset = 0; offset + sizeof(Elf64_Sym) <= table->size(); offset += sizeof(Elf64_Sym)) {
      auto sym = read_struct<Elf64_Sym>(*table, offset);
      if (!sym) return;
      if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0) continue;
      auto name = strings->c_string(sym->st_name, kMaxNameLength);
      if (!name || name->empty()) continue;
      ElfSymbol symbol{std::string(*name), sym->st_value, sym->st_size,
                       static_cast<uint8_t>(ELF64_ST_TYPE(sym->st_info))};
      (symbol.type == STT_FUNC ? functions : others).push_back(std::move(symbol));
    }
    function_symbols_ = std::move(functions);
    other_symbols_ = std::move(others);
    has_symtab_ = true;
    return;
  }
}

std::optional<uint64_t> ElfImage::symbol_address(std::string_view name) const {
  std::optional<uint64_t> found;
  for (const auto* list : {&function_symbols_, &other_symbols_}) {
    for (const ElfSymbol& symbol : *list) {
      if (symbol.name != name) continue;
      if (found && *found != symbol.value) return std::nullopt;  // ambiguous: trust neither
      found = symbol.value;
    }
  }
  return found;
}

const Section* ElfImage::section(std::string_view name) const {
  for (const Section& section : sections_) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

std::optional<ByteView> ElfImage::section_bytes(const Section& section) const {
  if (section.type == SHT_NOBITS) return std::nullopt;
  return bytes().sub(section.offset, section.size);
}

Result<uint64_t> ElfImage::vaddr_to_offset(uint64_t vaddr, uint64_t length) const {
  for (const Segment& segment : segments_) {
    if (segment.type != PT_LOAD) continue;
    if (vaddr < segment.vaddr) continue;
    const uint64_t delta = vaddr - segment.vaddr;
    if (delta > segment.filesz || length > segment.filesz - delta) continue;
    return segment.offset + delta;
  }
  return Error{"address " + hex(vaddr) + " is not backed by file bytes in any PT_LOAD segment"};
}

std::optional<ByteView> ElfImage::bytes_at_vaddr(uint64_t vaddr, uint64_t length) const {
  auto offset = vaddr_to_offset(vaddr, length);
  if (!offset) return std::nullopt;
  return bytes().sub(*offset, length);
}

bool ElfImage::is_executable_range(uint64_t vaddr, uint64_t length) const {
  for (const Segment& segment : segments_) {
    if (segment.type != PT_LOAD || (segment.flags & PF_X) == 0) continue;
    if (vaddr < segment.vaddr) continue;
    const uint64_t delta = vaddr - segment.vaddr;
    if (delta <= segment.filesz && length <= segment.filesz - delta) return true;
  }
  return false;
}

std::optional<uint64_t> ElfImage::read_pointer(uint64_t vaddr) const {
  auto window = bytes_at_vaddr(vaddr, 8);
  if (!window) return std::nullopt;
  const uint64_t value = *window->u64(0);
  if (value != 0) return value;
  for (const Section& section : sections_) {
    if (section.type != SHT_RELA) continue;
    auto table = section_bytes(section);
    if (!table) continue;
    for (uint64_t offset = 0; offset + sizeof(Elf64_Rela) <= table->size(); offset += sizeof(Elf64_Rela)) {
      auto rela = read_struct<Elf64_Rela>(*table, offset);
      if (rela && rela->r_offset == vaddr && is_relative(ELF64_R_TYPE(rela->r_info))) {
        return static_cast<uint64_t>(rela->r_addend);
      }
    }
  }
  return value;
}

std::vector<uint64_t> ElfImage::relative_relocations_to(uint64_t target) const {
  std::vector<uint64_t> sites;
  for (const Section& section : sections_) {
    if (section.type != SHT_RELA) continue;
    auto table = section_bytes(section);
    if (!table) continue;
    for (uint64_t offset = 0; offset + sizeof(Elf64_Rela) <= table->size(); offset += sizeof(Elf64_Rela)) {
      auto rela = read_struct<Elf64_Rela>(*table, offset);
      if (rela && is_relative(ELF64_R_TYPE(rela->r_info)) && static_cast<uint64_t>(rela->r_addend) == target) {
        sites.push_back(rela->r_offset);
      }
    }
  }
  return sites;
}

}  // namespace dwcp::goelf
