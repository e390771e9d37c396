// GoBinary against real Go binaries built by CMake (plain, stripped, PIE, stripped PIE with
// -trimpath) and non-Go files; patched copies and synthetic formats: go_binary_patched_test.cpp.
#include <gtest/gtest.h>

#include <elf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <tuple>

#include "go_binary_test_support.h"
#include "goelf/go_binary.h"
#include "goelf/pclntab.h"
#include "synthetic_tables.h"

using dwcp::goelf::ElfImage;
using dwcp::goelf::Function;
using dwcp::goelf::GoBinary;
using dwcp::goelf::SymbolSource;

using goelf_test::kDir;
using goelf_test::kSendChunk;
using goelf_test::open_or_die;
using goelf_test::read_file;

namespace {

// The symtab entry of a function, read independently of GoBinary (straight from ElfImage).
std::optional<dwcp::goelf::ElfSymbol> raw_symbol(const std::string& path, const std::string& name) {
  auto elf = ElfImage::parse(read_file(path));
  if (!elf) return std::nullopt;
  for (const auto& symbol : elf->function_symbols()) {
    if (symbol.name == name) return symbol;
  }
  return std::nullopt;
}

TEST(GoBinary, DescribesTheFourBuilds) {
  struct Expect {
    const char* file;
    bool pie, symtab;
  };
  for (const Expect& e : {Expect{"plain", false, true}, Expect{"stripped", false, false}, Expect{"pie", true, true},
                          Expect{"stripped_pie", true, false}}) {
    SCOPED_TRACE(e.file);
    GoBinary binary = open_or_die(e.file);
    EXPECT_TRUE(binary.is_go());
    EXPECT_EQ(binary.is_pie(), e.pie);
    EXPECT_EQ(binary.has_symtab(), e.symtab);
    EXPECT_TRUE(binary.has_pclntab()) << binary.pclntab_error();
    EXPECT_EQ(binary.pclntab_version(), "1.18");  // the Go 1.19 toolchain writes the 1.18 format
    EXPECT_EQ(binary.text_start_source(), "pclntab header");
    EXPECT_EQ(binary.build_info().go_version.rfind("go1.19", 0), 0u) << binary.build_info().go_version;
    EXPECT_EQ(binary.build_info().main_path, "example.com/goelftest");
    EXPECT_EQ(binary.build_info().main_version, "(devel)");
    EXPECT_FALSE(binary.go_build_id().empty());
    EXPECT_EQ(binary.build_id(), binary.go_build_id());  // Go's internal linker writes no GNU build id
  }
}

TEST(GoBinary, StrippedResolvesToTheSameAddressesAsTheSymtab) {
  for (const auto& [with_symtab, without] :
       {std::pair<std::string, std::string>{"plain", "stripped"}, {"pie", "stripped_pie"}}) {
    SCOPED_TRACE(with_symtab);
    auto symbol = raw_symbol(kDir + "/" + with_symtab, kSendChunk);
    ASSERT_TRUE(symbol);
    GoBinary full = open_or_die(with_symtab);
    GoBinary stripped = open_or_die(without);

    auto from_full = full.find_function(kSendChunk);
    ASSERT_TRUE(from_full) << from_full.error();
    EXPECT_EQ(from_full->source, SymbolSource::symtab_and_pclntab);
    EXPECT_EQ(from_full->vaddr, symbol->value);
    EXPECT_EQ(from_full->size, symbol->size);

    auto from_stripped = stripped.find_function(kSendChunk);
    ASSERT_TRUE(from_stripped) << from_stripped.error();
    EXPECT_EQ(from_stripped->source, SymbolSource::pclntab);
    EXPECT_EQ(from_stripped->vaddr, symbol->value);
    EXPECT_EQ(from_stripped->file_offset, from_full->file_offset);
    EXPECT_GE(from_stripped->size, symbol->size);  // the pclntab size includes alignment padding
  }
}

TEST(GoBinary, EveryFunctionOfTheStrippedBuildMatchesTheSymtab) {
  // Not one function: all ~1400 of them, runtime included.
  for (const auto& [with_symtab, without] :
       {std::pair<std::string, std::string>{"plain", "stripped"}, {"pie", "stripped_pie"}}) {
    SCOPED_TRACE(without);
    GoBinary full = open_or_die(with_symtab);
    GoBinary stripped = open_or_die(without);
    const auto names = stripped.function_names();
    ASSERT_GT(names.size(), 1000u);
    size_t compared = 0;
    size_t abi_pairs = 0;
    for (const std::string& name : names) {
      auto a = stripped.find_function(name);
      auto b = full.find_function(name);
      if (!a && a.error().find("ABI0/ABIInternal wrapper") != std::string::npos) {
        // A function and its ABI wrapper share the name in the pclntab; only the symtab tells
        // them apart (the wrapper of one is "<name>.abi0" there), so the stripped build refuses.
        ASSERT_TRUE(b) << name << ": " << b.error();
        EXPECT_TRUE(full.find_function(name + ".abi0")) << name;
        ++abi_pairs;
        continue;
      }
      if (!a) {
        ADD_FAILURE() << name << ": " << a.error();
        continue;
      }
      ASSERT_TRUE(b) << name << ": " << b.error();
      EXPECT_EQ(a->vaddr, b->vaddr) << name;
      EXPECT_EQ(a->file_offset, b->file_offset) << name;
      ++compared;
    }
    EXPECT_EQ(compared + abi_pairs, names.size());
    EXPECT_LT(abi_pairs, 100u);
  }
}

TEST(MatrixBuild, EveryFunctionOfTheStrippedBuildsMatchesTheSymtab) {
  // The same check on the fixture as another Go built it: run by tests/integration/
  // test_go_matrix.py once per Go version with GOELF_MATRIX_DIR set to that version's four
  // builds (skipped when run without it, e.g. by plain ctest: the matrix test runs it).
  const char* dir = std::getenv("GOELF_MATRIX_DIR");
  if (dir == nullptr) GTEST_SKIP() << "GOELF_MATRIX_DIR not set";
  auto open_in_dir = [&](const std::string& name) {
    auto binary = GoBinary::open(std::string(dir) + "/" + name);
    if (!binary) throw std::runtime_error(binary.error());
    return std::move(binary).value();
  };
  for (const auto& [with_symtab, without] :
       {std::pair<std::string, std::string>{"dwcp-fixture", "dwcp-fixture-stripped"},
        {"dwcp-fixture-pie", "dwcp-fixture-stripped-pie"}}) {
    SCOPED_TRACE(without);
    GoBinary full = open_in_dir(with_symtab);
    GoBinary stripped = open_in_dir(without);
    ASSERT_FALSE(stripped.has_symtab());
    ASSERT_TRUE(stripped.has_pclntab()) << stripped.pclntab_error();
    const auto names = stripped.function_names();
    ASSERT_GT(names.size(), 1000u);
    size_t compared = 0, abi_pairs = 0;
    for (const std::string& name : names) {
      auto a = stripped.find_function(name);
      auto b = full.find_function(name);
      if (!a && a.error().find("ABI0/ABIInternal wrapper") != std::string::npos) {
        ++abi_pairs;
        continue;
      }
      if (!a || !b) {
        ADD_FAILURE() << name << ": " << (a ? b.error() : a.error());
        continue;
      }
      EXPECT_EQ(a->vaddr, b->vaddr) << name;
      EXPECT_EQ(a->file_offset, b->file_offset) << name;
      ++compared;
    }
    EXPECT_EQ(compared + abi_pairs, names.size());
    std::printf("%s: %zu functions match the symtab of %s (%zu ABI-wrapper pairs), pclntab %s, text start from %s\n",
                without.c_str(), compared, with_symtab.c_str(), abi_pairs, stripped.pclntab_version().c_str(),
                stripped.text_start_source().c_str());
  }
}

TEST(GoBinary, FileOffsetPointsAtTheFunctionCode) {
  // The bytes at file_offset must be the function's code: compare the plain file at the symtab
  // address (through PT_LOAD) with the stripped PIE file at its own resolved offset.
  GoBinary plain = open_or_die("plain");
  auto fn = plain.find_function(kSendChunk);
  ASSERT_TRUE(fn) << fn.error();
  const auto bytes = read_file(kDir + "/plain");
  auto elf = ElfImage::parse(bytes);
  ASSERT_TRUE(elf);
  auto direct = elf->bytes_at_vaddr(fn->vaddr, fn->size);
  ASSERT_TRUE(direct);
  EXPECT_EQ(0, std::memcmp(direct->data(), bytes.data() + fn->file_offset, fn->size));
  // Go functions on amd64 begin with the stack-bound check or a frame setup, never padding.
  EXPECT_NE(bytes[fn->file_offset], 0xcc);
}

TEST(GoBinary, RetOffsetsPointAtRetBytesInEveryBuild) {
  for (const char* file : {"plain", "stripped", "pie", "stripped_pie"}) {
    SCOPED_TRACE(file);
    GoBinary binary = open_or_die(file);
    const auto bytes = read_file(kDir + "/" + file);
    auto fn = binary.find_function(kSendChunk);
    ASSERT_TRUE(fn) << fn.error();
    auto rets = binary.ret_offsets(*fn);
    ASSERT_TRUE(rets) << rets.error();
    EXPECT_EQ(rets->size(), 2u);  // the early error return and the normal one
    for (uint64_t offset : *rets) {
      ASSERT_LT(offset, bytes.size());
      EXPECT_EQ(bytes[offset], 0xc3) << "offset " << offset;
      EXPECT_GE(offset, fn->file_offset);
      EXPECT_LT(offset, fn->file_offset + fn->size);
    }
  }
}

TEST(GoBinary, RetOffsetsOfAllFunctionsAreRetInstructions) {
  // Across the whole runtime: every offset reported is a C3 or C2 byte (Go emits no prefixed
  // RETs), and the stripped build (pclntab sizes, with padding) agrees with the symtab build.
  GoBinary plain = open_or_die("plain");
  GoBinary stripped = open_or_die("stripped");
  const auto bytes = read_file(kDir + "/plain");
  size_t with_rets = 0;
  for (const std::string& name : stripped.function_names()) {
    auto fn = plain.find_function(name);
    auto fn_stripped = stripped.find_function(name);
    ASSERT_TRUE(fn) << name;
    if (!fn_stripped) continue;  // ABI wrapper pairs, covered above
    auto rets = plain.ret_offsets(*fn);
    auto rets_stripped = stripped.ret_offsets(*fn_stripped);
    ASSERT_EQ(rets.ok(), rets_stripped.ok()) << name << ": " << (rets ? rets_stripped.error() : rets.error());
    if (!rets) {
      // Functions that never return (e.g. runtime.goexit-like tail calls) have no RET; that
      // must be the reason, never a decode failure.
      EXPECT_NE(rets.error().find("no RET"), std::string::npos) << name << ": " << rets.error();
      continue;
    }
    EXPECT_EQ(*rets, *rets_stripped) << name;
    for (uint64_t offset : *rets) EXPECT_TRUE(bytes[offset] == 0xc3 || bytes[offset] == 0xc2) << name;
    ++with_rets;
  }
  EXPECT_GT(with_rets, 1000u);
}

TEST(GoBinary, UnknownFunctionSaysWhatWasSearchedAndSuggests) {
  GoBinary stripped = open_or_die("stripped");
  auto fn = stripped.find_function("transport.MultiStreamTCP.sendChunk");
  ASSERT_FALSE(fn);
  EXPECT_NE(fn.error().find("not found"), std::string::npos) << fn.error();
  EXPECT_NE(fn.error().find("pclntab"), std::string::npos) << fn.error();
  EXPECT_NE(fn.error().find(kSendChunk), std::string::npos) << fn.error();  // did you mean
}

// ---- not Go, not ELF, broken ELF ------------------------------------------------------------

TEST(GoBinary, NonGoElfIsNotGoAndCannotResolve) {
  auto binary = GoBinary::open("/bin/true");
  ASSERT_TRUE(binary) << binary.error();
  EXPECT_FALSE(binary->is_go());
  EXPECT_FALSE(binary->has_pclntab());
  auto fn = binary->find_function("main.main");
  ASSERT_FALSE(fn);
  EXPECT_NE(fn.error().find("not a Go binary"), std::string::npos) << fn.error();
}

TEST(GoBinary, NotElfMissingAndTruncatedFilesAreClearErrors) {
  auto text = GoBinary::open(std::string(GOELF_TEST_BINARIES) + "/../CTestTestfile.cmake");
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().find("not an ELF file"), std::string::npos) << text.error();

  auto missing = GoBinary::open(kDir + "/does-not-exist");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("cannot open"), std::string::npos) << missing.error();

  auto directory = GoBinary::open(kDir);
  ASSERT_FALSE(directory);

  auto bytes = read_file(kDir + "/plain");
  for (size_t length : {size_t{0}, size_t{4}, size_t{63}, size_t{64}, size_t{200}, bytes.size() / 2}) {
    auto truncated = GoBinary::from_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + length), "truncated");
    EXPECT_FALSE(truncated) << "accepted a file truncated to " << length;
  }

  auto wrong_machine = bytes;
  wrong_machine[18] = EM_RISCV;
  auto riscv = GoBinary::from_bytes(wrong_machine, "riscv64");
  ASSERT_FALSE(riscv);
  EXPECT_NE(riscv.error().find("neither x86-64"), std::string::npos) << riscv.error();
  // An arm64 ELF header over an amd64 table: the pclntab's quantum (1) does not fit arm64.
  wrong_machine[18] = EM_AARCH64;
  auto arm = GoBinary::from_bytes(wrong_machine, "arm64");
  ASSERT_TRUE(arm) << arm.error();
  EXPECT_EQ(arm->arch(), dwcp::goelf::Arch::Arm64);
  EXPECT_FALSE(arm->has_pclntab());
  EXPECT_NE(arm->pclntab_error().find("quantum 1 does not fit an arm64"), std::string::npos) << arm->pclntab_error();
}

}  // namespace
