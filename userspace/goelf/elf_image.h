// ElfImage: a 64-bit little-endian x86-64 ELF file held in memory and parsed with bounds checks
// everywhere. The file is untrusted (we run as root against any binary a PID points at), so
// every header, table and string is checked against the file size before it is used.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dwcp_observer/result.h"
#include "goelf/arch.h"
#include "goelf/bytes.h"

namespace dwcp::goelf {

struct Section {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t addr = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
  uint64_t entsize = 0;
};

struct Segment {
  uint32_t type = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};

struct ElfSymbol {
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  uint8_t type = 0;  // STT_*
};

// The bytes of a file: a read-only private mapping of it (GoBinary::open: no copy of a binary
// of hundreds of MB), or a buffer in memory (tests, fuzzing). Unmapped with the last owner.
class FileBytes {
 public:
  // Maps size bytes of the open file fd (which may be closed afterwards).
  static Result<std::shared_ptr<const FileBytes>> map(int fd, uint64_t size, const std::string& path);
  static std::shared_ptr<const FileBytes> own(std::vector<uint8_t> bytes);
  ~FileBytes();
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  ByteView view() const { return ByteView(data_, size_); }

 private:
  FileBytes() = default;
  std::vector<uint8_t> owned_;
  void* mapping_ = nullptr;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class ElfImage {
 public:
  // Fails when the bytes are not a 64-bit little-endian x86-64 or arm64 ELF file, or when its headers
  // point outside the file.
  static Result<ElfImage> parse(std::shared_ptr<const FileBytes> bytes);
  static Result<ElfImage> parse(std::vector<uint8_t> bytes) { return parse(FileBytes::own(std::move(bytes))); }

  ByteView bytes() const { return bytes_->view(); }
  bool is_dyn() const { return type_ == 3; }  // ET_DYN: PIE executables (and shared objects)
  Arch arch() const { return arch_; }         // from e_machine
  const std::vector<Section>& sections() const { return sections_; }
  const std::vector<Segment>& segments() const { return segments_; }
  // STT_FUNC symbols of .symtab with an address (empty when the binary is stripped).
  const std::vector<ElfSymbol>& function_symbols() const { return function_symbols_; }
  bool has_symtab() const { return has_symtab_; }
  // Address of a symbol of any type in .symtab, if exactly one symbol has that name.
  std::optional<uint64_t> symbol_address(std::string_view name) const;

  const Section* section(std::string_view name) const;
  // The file bytes of a section; nothing for SHT_NOBITS (e.g. .bss), which has none.
  std::optional<ByteView> section_bytes(const Section& section) const;

  // Virtual address -> file offset through the PT_LOAD program headers (the kernel's own view,
  // so it works for PIE and non-PIE alike). Fails when the range is not backed by file bytes.
  Result<uint64_t> vaddr_to_offset(uint64_t vaddr, uint64_t length = 1) const;
  std::optional<ByteView> bytes_at_vaddr(uint64_t vaddr, uint64_t length) const;
  // True when [vaddr, vaddr+length) lies in the file-backed part of an executable PT_LOAD.
  bool is_executable_range(uint64_t vaddr, uint64_t length) const;

  // An 8-byte pointer stored at vaddr as the loader would see it before adding the load base:
  // the value in the file, or, when the file holds 0 there, the addend of an R_X86_64_RELATIVE
  // relocation for that address (R_AARCH64_RELATIVE on arm64; external linkers leave the file
  // word 0 for PIE).
  std::optional<uint64_t> read_pointer(uint64_t vaddr) const;
  // Addresses of the R_X86_64_RELATIVE relocations whose addend is `target`: where an
  // externally linked PIE stores pointers to target (the file words themselves are 0).
  std::vector<uint64_t> relative_relocations_to(uint64_t target) const;

 private:
  ElfImage() = default;
  Result<bool> parse_headers();
  void parse_symtab();

  std::shared_ptr<const FileBytes> bytes_;
  uint16_t type_ = 0;
  Arch arch_ = Arch::Amd64;
  std::vector<Section> sections_;
  std::vector<Segment> segments_;
  std::vector<ElfSymbol> function_symbols_;
  std::vector<ElfSymbol> other_symbols_;
  bool has_symtab_ = false;
};

}  // namespace dwcp::goelf
