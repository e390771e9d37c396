// GoBinary against patched copies of the real Go builds (Go 1.26 headers, corrupt and forged
// tables, symbols inside instructions) and synthetic ELF files in the pclntab formats this
// toolchain cannot produce. The unpatched builds: go_binary_test.cpp.
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

// ---- patched copies of the real binaries -------------------------------------------------

struct Patched {
  std::vector<uint8_t> bytes;
  uint64_t pclntab_offset = 0;
  size_t text_section_header = 0;  // file offset of the .text section header
};

Patched load_for_patching(const std::string& file) {
  Patched patched{read_file(kDir + "/" + file)};
  Elf64_Ehdr header;
  std::memcpy(&header, patched.bytes.data(), sizeof header);
  auto elf = ElfImage::parse(patched.bytes);
  if (!elf) throw std::runtime_error(elf.error());
  for (size_t i = 0; i < elf->sections().size(); ++i) {
    const auto& section = elf->sections()[i];
    if (section.name == ".gopclntab" || section.name == ".data.rel.ro.gopclntab")
      patched.pclntab_offset = section.offset;
    if (section.name == ".text") patched.text_section_header = header.e_shoff + i * sizeof(Elf64_Shdr);
  }
  return patched;
}

TEST(GoBinary, Go126HeaderWithoutTextStartUsesModuledata) {
  // Emulate Go 1.26 on a stripped 1.19 binary: zero the header's textStart. The text start must
  // then come from the moduledata and give exactly the same functions.
  Patched patched = load_for_patching("stripped");
  ASSERT_NE(patched.pclntab_offset, 0u);
  const uint32_t magic120 = dwcp::goelf::kPclntabMagic120;  // 1.20+ magic, as 1.26 writes
  std::memcpy(&patched.bytes[patched.pclntab_offset], &magic120, 4);
  std::memset(&patched.bytes[patched.pclntab_offset + 24], 0, 8);
  auto binary = GoBinary::from_bytes(patched.bytes, "patched-1.26");
  ASSERT_TRUE(binary) << binary.error();
  ASSERT_TRUE(binary->has_pclntab()) << binary->pclntab_error();
  EXPECT_EQ(binary->pclntab_version(), "1.26");
  EXPECT_EQ(binary->text_start_source(), "moduledata");
  GoBinary original = open_or_die("stripped");
  auto a = binary->find_function(kSendChunk);
  auto b = original.find_function(kSendChunk);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->file_offset, b->file_offset);
}

TEST(GoBinary, Go126HeaderFallsBackToAVerifiedTextSection) {
  Patched patched = load_for_patching("stripped");
  std::memset(&patched.bytes[patched.pclntab_offset + 24], 0, 8);
  // Also hide the moduledata (rename .noptrdata's pointer to the table): only .text is left.
  auto elf = ElfImage::parse(patched.bytes);
  ASSERT_TRUE(elf);
  const auto* pclntab = elf->section(".gopclntab");
  const auto* noptrdata = elf->section(".noptrdata");
  const auto* data = elf->section(".data");
  ASSERT_TRUE(pclntab && noptrdata && data);
  for (const auto* section : {noptrdata, data}) {
    for (uint64_t at = section->offset; at + 8 <= section->offset + section->size; at += 8) {
      uint64_t word;
      std::memcpy(&word, &patched.bytes[at], 8);
      if (word == pclntab->addr) std::memset(&patched.bytes[at], 0, 8);
    }
  }
  auto binary = GoBinary::from_bytes(patched.bytes, "patched-1.26-no-moduledata");
  ASSERT_TRUE(binary) << binary.error();
  ASSERT_TRUE(binary->has_pclntab()) << binary->pclntab_error();
  EXPECT_EQ(binary->text_start_source(), ".text section");
  auto fn = binary->find_function(kSendChunk);
  ASSERT_TRUE(fn) << fn.error();
  EXPECT_EQ(fn->file_offset, open_or_die("stripped").find_function(kSendChunk)->file_offset);

  // If .text does not end where the table ends (as with external linking, where C code shares
  // .text), the .text start cannot be trusted: refuse.
  Elf64_Shdr text;
  std::memcpy(&text, &patched.bytes[patched.text_section_header], sizeof text);
  text.sh_size += 0x40;
  std::memcpy(&patched.bytes[patched.text_section_header], &text, sizeof text);
  auto unsure = GoBinary::from_bytes(patched.bytes, "patched-1.26-text-mismatch");
  ASSERT_TRUE(unsure) << unsure.error();
  EXPECT_FALSE(unsure->has_pclntab());
  EXPECT_NE(unsure->pclntab_error().find(".text"), std::string::npos) << unsure->pclntab_error();
  auto refused = unsure->find_function(kSendChunk);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("pclntab is unusable"), std::string::npos) << refused.error();
}

TEST(GoBinary, Go126ExternallyLinkedPieReadsModuledataThroughRelocations) {
  // Emulate what an external linker leaves in a Go 1.26 PIE: no textStart in the header (and
  // no relocation for it), and the moduledata pointer words 0 in the file, their values only
  // in R_X86_64_RELATIVE addends. The text start must still come out right, via the relocations.
  Patched patched = load_for_patching("stripped_pie");
  auto elf = ElfImage::parse(patched.bytes);
  ASSERT_TRUE(elf);
  const auto* pclntab = elf->section(".data.rel.ro.gopclntab");
  const auto* noptrdata = elf->section(".noptrdata");
  ASSERT_TRUE(pclntab && noptrdata);
  const uint32_t magic120 = dwcp::goelf::kPclntabMagic120;
  std::memcpy(&patched.bytes[pclntab->offset], &magic120, 4);
  std::memset(&patched.bytes[pclntab->offset + 24], 0, 8);
  size_t relocations_cleared = 0;
  for (const auto& section : elf->sections()) {
    if (section.type != SHT_RELA) continue;
    for (uint64_t at = section.offset; at + sizeof(Elf64_Rela) <= section.offset + section.size;
         at += sizeof(Elf64_Rela)) {
      Elf64_Rela rela;
      std::memcpy(&rela, &patched.bytes[at], sizeof rela);
      if (rela.r_offset != pclntab->addr + 24) continue;
      rela.r_info = ELF64_R_INFO(0, R_X86_64_NONE);
      std::memcpy(&patched.bytes[at], &rela, sizeof rela);
      ++relocations_cleared;
    }
  }
  ASSERT_EQ(relocations_cleared, 1u);
  size_t moduledata_found = 0;
  for (uint64_t at = noptrdata->offset; at + 8 <= noptrdata->offset + noptrdata->size; at += 8) {
    uint64_t word;
    std::memcpy(&word, &patched.bytes[at], 8);
    if (word != pclntab->addr) continue;
    for (uint64_t field : {0, 20 * 8, 22 * 8, 23 * 8}) std::memset(&patched.bytes[at + field], 0, 8);
    ++moduledata_found;
  }
  ASSERT_EQ(moduledata_found, 1u);

  auto binary = GoBinary::from_bytes(patched.bytes, "patched-1.26-external-pie");
  ASSERT_TRUE(binary) << binary.error();
  ASSERT_TRUE(binary->has_pclntab()) << binary->pclntab_error();
  EXPECT_EQ(binary->pclntab_version(), "1.26");
  EXPECT_EQ(binary->text_start_source(), "moduledata");
  auto fn = binary->find_function(kSendChunk);
  ASSERT_TRUE(fn) << fn.error();
  EXPECT_EQ(fn->file_offset, open_or_die("stripped_pie").find_function(kSendChunk)->file_offset);
}

TEST(GoBinary, Go126EtextBeyondTheTableIsAcceptedOnlyWhenItIsAlignmentPadding) {
  // Go 1.26/1.27 stripped builds: the table ends after its last function (go:textfipsend, one
  // byte) and runtime.etext (moduledata.etext) follows on a 16-byte boundary, INT3 between,
  // e.g. 0x58eb41 vs 0x58eb50 (tests/integration/test_go_matrix.py proves this on real 1.26
  // and 1.27 builds). Reproduced on this 1.19 build's real tables: header as 1.26 writes it,
  // and the table's end-of-text sentinel moved `gap` bytes before moduledata.etext.
  Patched base = load_for_patching("stripped");
  const uint32_t magic120 = dwcp::goelf::kPclntabMagic120;
  std::memcpy(&base.bytes[base.pclntab_offset], &magic120, 4);
  std::memset(&base.bytes[base.pclntab_offset + 24], 0, 8);
  auto word = [&](const Patched& p, uint64_t at) {
    uint64_t v;
    std::memcpy(&v, &p.bytes[at], 8);
    return v;
  };
  const uint64_t count = word(base, base.pclntab_offset + 8);
  const uint64_t functab = base.pclntab_offset + word(base, base.pclntab_offset + 8 + 7 * 8);
  const uint64_t sentinel_at = functab + 2 * count * 4;
  uint32_t sentinel;
  std::memcpy(&sentinel, &base.bytes[sentinel_at], 4);
  auto elf = ElfImage::parse(base.bytes);
  ASSERT_TRUE(elf);
  const auto* text = elf->section(".text");
  const auto* noptrdata = elf->section(".noptrdata");
  const auto* pclntab = elf->section(".gopclntab");
  ASSERT_TRUE(text && noptrdata && pclntab);
  const uint64_t etext = text->addr + text->size;
  ASSERT_EQ(etext % 16, 0u);
  uint64_t moduledata = 0;
  for (uint64_t at = noptrdata->offset; at + 8 <= noptrdata->offset + noptrdata->size; at += 8)
    if (word(base, at) == pclntab->addr) moduledata = at;
  ASSERT_NE(moduledata, 0u);
  ASSERT_EQ(word(base, moduledata + 23 * 8), etext);

  // gap bytes before etext, filled with `fill` (or the real code there when fill < 0); the
  // moduledata's etext moved by etext_shift.
  auto open_with = [&](uint32_t gap, int fill, int64_t etext_shift = 0) {
    Patched p = base;
    const uint32_t moved = sentinel - gap;
    std::memcpy(&p.bytes[sentinel_at], &moved, 4);
    if (fill >= 0) std::memset(&p.bytes[text->offset + text->size - gap], fill, gap);
    const uint64_t new_etext = etext + etext_shift;
    std::memcpy(&p.bytes[moduledata + 23 * 8], &new_etext, 8);
    return GoBinary::from_bytes(p.bytes, "patched-1.26-gap");
  };
  {
    auto padded = open_with(15, 0xcc);
    ASSERT_TRUE(padded) << padded.error();
    ASSERT_TRUE(padded->has_pclntab()) << padded->pclntab_error();
    EXPECT_EQ(padded->text_start_source(), "moduledata");
    auto fn = padded->find_function(kSendChunk);
    ASSERT_TRUE(fn) << fn.error();
    EXPECT_EQ(fn->file_offset, open_or_die("stripped").find_function(kSendChunk)->file_offset);
    auto last = padded->find_function("main.main");
    ASSERT_TRUE(last) << last.error();
    EXPECT_EQ(last->vaddr + last->size, etext - 15) << "the last function ends where the table says";
  }
  // Code (not INT3) in the gap, a gap as large as the function alignment, or an etext off the
  // alignment: not padding, the table and the moduledata disagree.
  for (const auto& [gap, fill, shift, what] :
       {std::tuple<uint32_t, int, int64_t, const char*>{15, -1, 0, "code in the gap"},
        {16, 0x00, 0, "zeros, not INT3"},
        {32, 0xcc, 0, "a whole alignment unit"},
        {16, 0xcc, -8, "etext not 16-aligned"}}) {
    SCOPED_TRACE(what);
    auto refused = open_with(gap, fill, shift);
    ASSERT_TRUE(refused) << refused.error();
    EXPECT_FALSE(refused->has_pclntab());
    EXPECT_NE(refused->pclntab_error().find("disagrees with moduledata.etext"), std::string::npos)
        << refused->pclntab_error();
  }
}

TEST(GoBinary, MappedFileAndBytesInMemoryResolveTheSame) {
  // open() maps the file; from_bytes() parses a copy: same tables, same answers.
  for (const char* name : {"plain", "stripped_pie"}) {
    SCOPED_TRACE(name);
    GoBinary mapped = open_or_die(name);
    auto copied = GoBinary::from_bytes(read_file(kDir + "/" + name), name);
    ASSERT_TRUE(copied) << copied.error();
    EXPECT_EQ(mapped.function_names(), copied->function_names());
    EXPECT_EQ(mapped.build_id(), copied->build_id());
    auto a = mapped.find_function(kSendChunk);
    auto b = copied->find_function(kSendChunk);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->file_offset, b->file_offset);
    EXPECT_EQ(*mapped.ret_offsets(*a), *copied->ret_offsets(*b));
  }
  // A moved-from or copied GoBinary keeps the mapping alive.
  auto moved = std::make_unique<GoBinary>(open_or_die("stripped"));
  GoBinary copy = *moved;
  moved.reset();
  EXPECT_TRUE(copy.find_function(kSendChunk));
}

TEST(GoBinary, HoldsPackageMatchesThePackageAndItsSubpackagesOnly) {
  const std::vector<std::string> names = {"example.com/goelftest/transport.(*MultiStreamTCP).Send",
                                          "example.com/goelftestx.F", "main.main", "runtime.main"};
  EXPECT_TRUE(dwcp::goelf::holds_package(names, "example.com/goelftest"));
  EXPECT_TRUE(dwcp::goelf::holds_package(names, "example.com/goelftest/transport"));
  EXPECT_FALSE(dwcp::goelf::holds_package(names, "example.com/goelftes"));
  EXPECT_FALSE(dwcp::goelf::holds_package(names, "example.com/other"));
  EXPECT_FALSE(dwcp::goelf::holds_package(names, ""));
  EXPECT_TRUE(dwcp::goelf::holds_package(open_or_die("stripped").function_names(), "example.com/goelftest"));
}

// The member forms (no sorted list of every name built) say what the list-based ones say.
TEST(GoBinary, HoldsPackageAndNamesAgreeWithFunctionNames) {
  for (const char* variant : {"plain", "stripped"}) {
    SCOPED_TRACE(variant);
    const GoBinary binary = open_or_die(variant);
    const std::vector<std::string> names = binary.function_names();
    for (const char* package : {"example.com/goelftest", "example.com/goelftest/transport", "example.com/goelftes",
                                "example.com/other", "runtime", ""})
      EXPECT_EQ(binary.holds_package(package), dwcp::goelf::holds_package(names, package)) << package;
    for (const std::string& name : {names.front(), names.back(), std::string(kSendChunk)})
      EXPECT_TRUE(binary.names(name));
    EXPECT_FALSE(binary.names("example.com/goelftest/transport.(*MultiStreamTCP).NoSuchMethod"));
  }
}

TEST(GoBinary, CorruptPclntabInAStrippedBinaryIsRefused) {
  Patched patched = load_for_patching("stripped");
  // Swap functions 10 and 11 in the functab (1.18 layout: (entryoff, funcoff) uint32 pairs):
  // each pair still matches its _func record, but the table now goes backwards.
  uint64_t functab;
  std::memcpy(&functab, &patched.bytes[patched.pclntab_offset + 8 + 7 * 8], 8);
  uint8_t* pairs = &patched.bytes[patched.pclntab_offset + functab];
  uint8_t pair10[8];
  std::memcpy(pair10, pairs + 10 * 8, 8);
  std::memcpy(pairs + 10 * 8, pairs + 11 * 8, 8);
  std::memcpy(pairs + 11 * 8, pair10, 8);
  auto binary = GoBinary::from_bytes(patched.bytes, "patched-unsorted");
  ASSERT_TRUE(binary) << binary.error();
  EXPECT_TRUE(binary->is_go());
  EXPECT_FALSE(binary->has_pclntab());
  EXPECT_NE(binary->pclntab_error().find("not sorted"), std::string::npos) << binary->pclntab_error();
  EXPECT_FALSE(binary->find_function(kSendChunk));

  // An unknown magic: refuse rather than guess the layout.
  Patched magic = load_for_patching("stripped");
  const uint32_t future = 0xfffffff9;
  std::memcpy(&magic.bytes[magic.pclntab_offset], &future, 4);
  auto unknown = GoBinary::from_bytes(magic.bytes, "patched-magic");
  ASSERT_TRUE(unknown);
  auto fn = unknown->find_function(kSendChunk);
  ASSERT_FALSE(fn);
  EXPECT_NE(fn.error().find("unknown pclntab magic"), std::string::npos) << fn.error();
}

// Issue 14 item 6: a Go pclntab pasted into a C binary named thousands of places in C code. Stand-in:
// the stripped build with Go's stack check (CMPQ SP/R12, 16(R14)) turned into a compare against
// RSI everywhere in the code, so no function starts like Go code while every instruction
// boundary, size and table stays valid. The table must be refused as not describing the code.
TEST(GoBinary, PclntabOverCodeThatIsNotGoIsRefused) {
  auto bytes = read_file(kDir + "/stripped");
  auto elf = ElfImage::parse(bytes);
  ASSERT_TRUE(elf) << elf.error();
  const auto* text = elf->section(".text");
  ASSERT_NE(text, nullptr);
  size_t patched = 0;
  for (size_t i = text->offset; i + 4 <= text->offset + text->size; ++i) {
    if ((bytes[i] == 0x49 || bytes[i] == 0x4d) && bytes[i + 1] == 0x3b && bytes[i + 2] == 0x66 &&
        bytes[i + 3] == 0x10) {
      bytes[i] &= ~uint8_t{1};  // REX.B off: [R14+16] becomes [RSI+16], same length
      ++patched;
    }
  }
  EXPECT_GT(patched, 1000u);
  auto honest = GoBinary::open(kDir + "/stripped");
  ASSERT_TRUE(honest && honest->has_pclntab()) << (honest ? honest->pclntab_error() : honest.error());
  auto forged = GoBinary::from_bytes(std::move(bytes), "not-go-code");
  ASSERT_TRUE(forged) << forged.error();
  EXPECT_FALSE(forged->has_pclntab());
  EXPECT_NE(forged->pclntab_error().find("do not start like Go code"), std::string::npos) << forged->pclntab_error();
  auto fn = forged->find_function(kSendChunk);
  ASSERT_FALSE(fn);
  EXPECT_NE(fn.error().find("do not start like Go code"), std::string::npos) << fn.error();
}

TEST(GoBinary, SymtabAndPclntabDisagreeingIsRefused) {
  Patched patched = load_for_patching("plain");
  // Move sendChunk's functab entry by 16 bytes (still sorted): symtab and pclntab now disagree.
  GoBinary plain = open_or_die("plain");
  auto fn = plain.find_function(kSendChunk);
  ASSERT_TRUE(fn);
  uint64_t functab, text_start;
  std::memcpy(&functab, &patched.bytes[patched.pclntab_offset + 8 + 7 * 8], 8);
  std::memcpy(&text_start, &patched.bytes[patched.pclntab_offset + 24], 8);
  uint64_t nfunc;
  std::memcpy(&nfunc, &patched.bytes[patched.pclntab_offset + 8], 8);
  bool moved = false;
  for (uint64_t i = 0; i < nfunc; ++i) {
    uint8_t* pair = &patched.bytes[patched.pclntab_offset + functab + i * 8];
    uint32_t entry, func_offset;
    std::memcpy(&entry, pair, 4);
    std::memcpy(&func_offset, pair + 4, 4);
    if (text_start + entry != fn->vaddr) continue;
    entry += 16;
    std::memcpy(pair, &entry, 4);
    std::memcpy(&patched.bytes[patched.pclntab_offset + functab + func_offset], &entry, 4);  // _func.entryoff
    moved = true;
  }
  ASSERT_TRUE(moved);
  auto binary = GoBinary::from_bytes(patched.bytes, "patched-disagree");
  ASSERT_TRUE(binary && binary->has_pclntab()) << (binary ? binary->pclntab_error() : binary.error());
  auto refused = binary->find_function(kSendChunk);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("disagree"), std::string::npos) << refused.error();
}

// ---- synthetic ELF files: the pclntab formats this toolchain cannot produce, end to end ----

struct SyntheticCase {
  uint32_t magic;  // 0 = Go 1.26 (1.20 magic, no stored text start)
  bool symtab;
  const char* version;
  const char* text_start_source;
};

class SyntheticElfTest : public ::testing::TestWithParam<SyntheticCase> {};

TEST_P(SyntheticElfTest, ResolvesFunctionsRetsAndBuildInfo) {
  const SyntheticCase c = GetParam();
  auto binary = GoBinary::from_bytes(goelf_test::build_elf(c.magic, c.symtab), "synthetic");
  ASSERT_TRUE(binary) << binary.error();
  EXPECT_TRUE(binary->is_go());
  EXPECT_FALSE(binary->is_pie());
  EXPECT_EQ(binary->has_symtab(), c.symtab);
  ASSERT_TRUE(binary->has_pclntab()) << binary->pclntab_error();
  EXPECT_EQ(binary->pclntab_version(), c.version);
  EXPECT_EQ(binary->text_start_source(), c.text_start_source);
  EXPECT_EQ(binary->build_info().go_version, "go1.26.0");
  EXPECT_EQ(binary->build_info().vcs_revision, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(binary->go_build_id(), "synthetic/build/id/for-tests");

  const auto& expected = goelf_test::synthetic_elf_functions()[1];
  auto fn = binary->find_function(expected.name);
  ASSERT_TRUE(fn) << fn.error();
  EXPECT_EQ(fn->vaddr, expected.entry);
  EXPECT_EQ(fn->file_offset, expected.entry - goelf_test::kSyntheticBase);  // one PT_LOAD at offset 0
  EXPECT_EQ(fn->source, c.symtab ? SymbolSource::symtab_and_pclntab : SymbolSource::pclntab);
  EXPECT_EQ(fn->size, c.symtab ? 21u : goelf_test::kSyntheticFunctionSize);
  auto rets = binary->ret_offsets(*fn);
  ASSERT_TRUE(rets) << rets.error();
  std::vector<uint64_t> expected_rets;
  for (uint64_t at : goelf_test::synthetic_sendchunk_rets()) expected_rets.push_back(fn->file_offset + at);
  EXPECT_EQ(*rets, expected_rets);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, SyntheticElfTest,
                         ::testing::Values(SyntheticCase{0xfffffffa, false, "1.16", "absolute entries"},
                                           SyntheticCase{0xfffffffa, true, "1.16", "absolute entries"},
                                           SyntheticCase{0xfffffff0, false, "1.18", "pclntab header"},
                                           SyntheticCase{0xfffffff1, false, "1.20", "pclntab header"},
                                           SyntheticCase{0xfffffff1, true, "1.20", "pclntab header"},
                                           SyntheticCase{0, false, "1.26", ".text section"},
                                           SyntheticCase{0, true, "1.26", ".text section"}),
                         [](const auto& info) {
                           std::string name =
                               std::string("Go") + info.param.version + (info.param.symtab ? "_symtab" : "_stripped");
                           for (char& ch : name) ch = ch == '.' ? '_' : ch;
                           return name;
                         });

}  // namespace

namespace {

// Replaces the 8-byte little-endian `from` (once) in bytes; false when absent.
bool patch_u64(std::vector<uint8_t>& bytes, uint64_t from, uint64_t to) {
  for (size_t i = 0; i + 8 <= bytes.size(); ++i) {
    uint64_t v;
    std::memcpy(&v, &bytes[i], 8);
    if (v == from) {
      std::memcpy(&bytes[i], &to, 8);
      return true;
    }
  }
  return false;
}

}  // namespace

// Issue 14 item 6: a .symtab entry pointing inside an instruction got a probe that corrupted its
// process. With no pclntab to disagree, the disassembler must.
TEST(GoBinary, SymbolInsideAnInstructionIsRefused) {
  const auto& sendchunk = goelf_test::synthetic_elf_functions()[1];
  auto make = [&](uint64_t symbol_value) {
    std::vector<uint8_t> bytes = goelf_test::build_elf(0xfffffff1, true);
    // No pclntab: its magic gone, .symtab is the only name table.
    const uint8_t magic[] = {0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8};
    auto at = std::search(bytes.begin(), bytes.end(), std::begin(magic), std::end(magic));
    EXPECT_NE(at, bytes.end());
    std::fill(at, at + 4, 0);
    if (symbol_value != sendchunk.entry) {
      EXPECT_TRUE(patch_u64(bytes, sendchunk.entry, symbol_value));
    }
    auto binary = GoBinary::from_bytes(std::move(bytes), "forged");
    EXPECT_TRUE(binary) << binary.error();
    EXPECT_EQ(binary->pclntab_version(), "");
    return binary->find_function(sendchunk.name);
  };
  auto honest = make(sendchunk.entry);
  ASSERT_TRUE(honest) << honest.error();
  EXPECT_EQ(honest->source, SymbolSource::symtab);
  for (uint64_t inside : {sendchunk.entry + 1, sendchunk.entry + 2, sendchunk.entry + 6}) {
    auto forged = make(inside);
    ASSERT_FALSE(forged) << std::hex << inside;
    EXPECT_NE(forged.error().find("is inside an instruction"), std::string::npos) << forged.error();
  }
  // +3 is where the sweep lands (test rax, rax is 3 bytes): a boundary, so accepted.
  EXPECT_TRUE(make(sendchunk.entry + 3));
}
