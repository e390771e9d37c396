// GoBinary: resolves function names of a (possibly stripped, possibly PIE) Go binary to the
// file offsets uprobes attach to, and finds their RET instructions.
//
// Sources, in order of trust: the ELF .symtab (STT_FUNC, exact sizes) and Go's pclntab (present
// even with -ldflags="-s -w"). When both know a function they must agree on its address. Any
// doubt — an unknown table format, inconsistent tables, an address outside the code — is an
// error, never a guess: a uprobe at a wrong offset corrupts the target's machine code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dwcp_observer/result.h"
#include "goelf/buildinfo.h"
#include "goelf/elf_image.h"
#include "goelf/pclntab.h"

namespace dwcp::goelf {

enum class SymbolSource { symtab, pclntab, symtab_and_pclntab };
const char* to_string(SymbolSource source);

struct Function {
  std::string name;
  uint64_t vaddr = 0;        // link-time virtual address of the entry
  uint64_t size = 0;         // st_size, or (pclntab only) the distance to the next function
  uint64_t file_offset = 0;  // what a uprobe takes (PT_LOAD translation of vaddr)
  SymbolSource source = SymbolSource::symtab;
};

// Whether the function `name` is of `package` or of a package below it ("<package>.F",
// "<package>.(*T).M", "<package>/sub.F").
bool in_package(std::string_view name, std::string_view package);
// Whether any of `sorted_names` (GoBinary::function_names()) is in_package: the binary was built
// with that code, whichever of its functions the linker kept.
bool holds_package(const std::vector<std::string>& sorted_names, std::string_view package);

class GoBinary {
 public:
  // Maps (mmap, read-only) and indexes the file. Fails (with what is wrong) when it cannot be read, is not an
  // ELF file, is neither x86-64 nor arm64, or has corrupt ELF headers. A non-Go ELF opens fine: is_go() is
  // false and find_function works only through .symtab.
  static Result<GoBinary> open(const std::string& path);
  // Same from bytes already in memory (tests, fuzzing). display_name appears in messages.
  static Result<GoBinary> from_bytes(std::vector<uint8_t> bytes, std::string display_name);

  bool is_go() const { return is_go_; }
  bool is_pie() const { return elf_.is_dyn(); }
  Arch arch() const { return elf_.arch(); }
  bool has_symtab() const { return elf_.has_symtab(); }
  bool has_pclntab() const { return pclntab_.has_value(); }

  // GNU build id (hex) when the binary has .note.gnu.build-id, else the Go build id, else "".
  const std::string& build_id() const { return build_id_; }
  const std::string& gnu_build_id() const { return gnu_build_id_; }
  const std::string& go_build_id() const { return go_build_id_; }

  const BuildInfo& build_info() const { return build_info_; }
  // Why build_info() is empty, or "" when it was read.
  const std::string& build_info_error() const { return build_info_error_; }

  // "1.16", "1.18", "1.20" or "1.26"; "" when no usable pclntab was found.
  const std::string& pclntab_version() const { return pclntab_version_; }
  // Why the pclntab is unusable (or absent), "" when it was read and checked.
  const std::string& pclntab_error() const { return pclntab_error_; }
  // Where the text start of a 1.18+ table came from ("pclntab header", "runtime.text",
  // "moduledata", ".text section"), for diagnostics.
  const std::string& text_start_source() const { return text_start_source_; }

  Result<Function> find_function(std::string_view name) const;
  // File offsets of every RET in fn (see ret_finder.h).
  Result<std::vector<uint64_t>> ret_offsets(const Function& fn) const;
  // File offset of fn's entry probe: its stack check's conditional branch, which the kernel
  // emulates (ret_finder.h: stack_check_branch_offset), else fn.file_offset.
  uint64_t entry_probe_offset(const Function& fn) const;
  // Every function name known from .symtab and the pclntab, sorted, without duplicates.
  std::vector<std::string> function_names() const;
  // holds_package(function_names(), package) and whether `name` is one of function_names(),
  // without building that sorted list (thousands of names: milliseconds of a first attach).
  bool holds_package(std::string_view package) const;
  bool names(std::string_view name) const;

 private:
  static Result<GoBinary> from_elf(Result<ElfImage> elf, std::string display_name);
  GoBinary(ElfImage elf, std::string display_name) : elf_(std::move(elf)), name_(std::move(display_name)) {}
  void read_notes();
  void read_build_info();
  void read_pclntab();
  Result<Pclntab> read_pclntab_at(ByteView table, uint64_t table_vaddr);
  // Share (0..1) of an even sample of the table's functions whose code starts with Go's stack
  // check: ~0.7 in Go's own binaries, 0 when a table is pasted over other code.
  double go_shaped_share(const Pclntab& table) const;
  struct TextRange {
    uint64_t text, etext;
  };
  std::optional<TextRange> text_from_moduledata(uint64_t table_vaddr) const;
  // Whether [table_end, etext) is only the alignment padding before runtime.etext.
  bool is_alignment_padding(uint64_t table_end, uint64_t etext) const;
  std::string did_you_mean(std::string_view name) const;
  // Whether fn's entry starts an instruction (see find_function); an error says why not.
  Result<bool> check_entry(const Function& fn) const;

  ElfImage elf_;
  std::string name_;
  bool is_go_ = false;
  std::string gnu_build_id_, go_build_id_, build_id_;
  BuildInfo build_info_;
  std::string build_info_error_;
  std::optional<Pclntab> pclntab_;
  std::string pclntab_version_, pclntab_error_, text_start_source_;
  // name -> index; kAmbiguous when several entries share a name at different addresses.
  static constexpr size_t kAmbiguous = static_cast<size_t>(-1);
  std::unordered_map<std::string, size_t> pclntab_index_;
  std::unordered_map<std::string, size_t> symtab_index_;
  // Names the pclntab lists more than once, with every index.
  std::unordered_map<std::string, std::vector<size_t>> pclntab_duplicates_;
};

}  // namespace dwcp::goelf
