// pclntab parser on synthetic tables in every header format, and on corrupted ones.
#include <gtest/gtest.h>

#include "goelf/pclntab.h"
#include "synthetic_tables.h"

using dwcp::goelf::ByteView;
using dwcp::goelf::parse_pclntab;
using dwcp::goelf::parse_pclntab_header;
using goelf_test::build_pclntab;
using goelf_test::SyntheticFunction;

namespace {

constexpr uint64_t kText = 0x401000;
const std::vector<SyntheticFunction> kFunctions = {
    {"runtime.text.stub", 0x401000},
    {"github.com/khryptorgraphics/novacron/backend/core/network/dwcp/transport.(*MultiStreamTCP).sendChunk", 0x401040},
    {"main.main", 0x4010a0},
};
constexpr uint64_t kEnd = 0x401200;

ByteView view(const std::vector<uint8_t>& bytes) { return ByteView(bytes.data(), bytes.size()); }

void expect_functions(const dwcp::goelf::Pclntab& table) {
  ASSERT_EQ(table.functions.size(), kFunctions.size());
  for (size_t i = 0; i < kFunctions.size(); ++i) {
    EXPECT_EQ(table.functions[i].name, kFunctions[i].name);
    EXPECT_EQ(table.functions[i].entry, kFunctions[i].entry);
    const uint64_t expected_end = i + 1 < kFunctions.size() ? kFunctions[i + 1].entry : kEnd;
    EXPECT_EQ(table.functions[i].end, expected_end);
  }
  EXPECT_EQ(table.text_end, kEnd);
}

struct Format {
  uint32_t magic;
  uint64_t text_start_field;
  const char* version;
};

class PclntabFormatTest : public ::testing::TestWithParam<Format> {};

TEST_P(PclntabFormatTest, ParsesNamesEntriesAndSizes) {
  const Format format = GetParam();
  auto bytes = build_pclntab(format.magic, kText, format.text_start_field, kFunctions, kEnd);
  auto header = parse_pclntab_header(view(bytes));
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->version, format.version);
  EXPECT_EQ(header->function_count, kFunctions.size());

  auto table = parse_pclntab(view(bytes), kText);
  ASSERT_TRUE(table) << table.error();
  EXPECT_EQ(table->header.version, format.version);
  EXPECT_EQ(table->text_start, kText);
  expect_functions(*table);
}

TEST_P(PclntabFormatTest, EveryTruncationIsRefused) {
  const Format format = GetParam();
  auto bytes = build_pclntab(format.magic, kText, format.text_start_field, kFunctions, kEnd);
  for (size_t length = 0; length < bytes.size(); ++length) {
    auto table = parse_pclntab(ByteView(bytes.data(), length), kText);
    EXPECT_FALSE(table) << "accepted a table truncated to " << length << " of " << bytes.size() << " bytes";
  }
}

TEST_P(PclntabFormatTest, NonMonotonicFunctionTableIsRefused) {
  const Format format = GetParam();
  auto functions = kFunctions;
  std::swap(functions[1].entry, functions[2].entry);  // names stay, entries go backwards
  auto bytes = build_pclntab(format.magic, kText, format.text_start_field, functions, kEnd);
  auto table = parse_pclntab(view(bytes), kText);
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().find("not sorted"), std::string::npos) << table.error();
}

TEST_P(PclntabFormatTest, OffsetsOutOfRangeAreRefused) {
  const Format format = GetParam();
  const bool go116 = format.magic == 0xfffffffa;
  goelf_test::PclntabLayout layout;
  const auto good = build_pclntab(format.magic, kText, format.text_start_field, kFunctions, kEnd, &layout);
  const size_t name_word = 8 + (go116 ? 2 : 3) * 8;
  const size_t functab_word = 8 + (go116 ? 6 : 7) * 8;

  struct Corruption {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> apply;
  };
  const std::vector<Corruption> corruptions = {
      {"function count far too large", [](auto& b) { goelf_test::put_u64(b, 8, uint64_t{1} << 40); }},
      {"function count one too many", [&](auto& b) { goelf_test::put_u64(b, 8, kFunctions.size() + 1); }},
      {"zero functions", [](auto& b) { goelf_test::put_u64(b, 8, 0); }},
      {"name table past the end", [&](auto& b) { goelf_test::put_u64(b, name_word, b.size() + 1); }},
      {"function table past the end", [&](auto& b) { goelf_test::put_u64(b, functab_word, b.size() + 8); }},
      {"function table offset wraps", [&](auto& b) { goelf_test::put_u64(b, functab_word, ~uint64_t{0}); }},
      {"_func offset past the end",
       [&](auto& b) {
         const size_t at = layout.functab_offset + layout.field_size;  // funcoff of function 0
         if (go116)
           goelf_test::put_u64(b, at, b.size());
         else
           goelf_test::put_u32(b, at, static_cast<uint32_t>(b.size()));
       }},
      {"_func offset huge",
       [&](auto& b) {
         const size_t at = layout.functab_offset + layout.field_size;
         if (go116)
           goelf_test::put_u64(b, at, ~uint64_t{0} - 2);
         else
           goelf_test::put_u32(b, at, 0xfffffffe);
       }},
      {"_func entry disagrees with functab", [&](auto& b) { b[layout.func_records_offset] ^= 0x10; }},
      {"name offset past the name table",
       [&](auto& b) { goelf_test::put_u32(b, layout.func_records_offset + (go116 ? 8 : 4), 0x7fffff00); }},
      {"negative name offset",
       [&](auto& b) { goelf_test::put_u32(b, layout.func_records_offset + (go116 ? 8 : 4), 0x80000000); }},
      {"end of text before last function",
       [&](auto& b) {
         const size_t at = layout.functab_offset + 2 * kFunctions.size() * layout.field_size;
         if (go116)
           goelf_test::put_u64(b, at, 0x401000);
         else
           goelf_test::put_u32(b, at, 0);
       }},
      {"quantum neither 1 nor 4", [](auto& b) { b[6] = 2; }},
      {"pointer size not 8", [](auto& b) { b[7] = 4; }},
      {"pad bytes not zero", [](auto& b) { b[4] = 1; }},
  };
  for (const auto& corruption : corruptions) {
    auto bytes = good;
    corruption.apply(bytes);
    auto table = parse_pclntab(view(bytes), kText);
    EXPECT_FALSE(table) << "accepted: " << corruption.what;
  }
}

INSTANTIATE_TEST_SUITE_P(AllHeaderFormats, PclntabFormatTest,
                         ::testing::Values(Format{0xfffffffa, 0, "1.16"}, Format{0xfffffff0, kText, "1.18"},
                                           Format{0xfffffff1, kText, "1.20"}, Format{0xfffffff1, 0, "1.26"}),
                         [](const auto& info) {
                           std::string name = std::string("Go") + info.param.version;
                           for (char& c : name) c = c == '.' ? '_' : c;
                           return name;
                         });

TEST(Pclntab, Go126NeedsTheTextStartFromOutside) {
  // Go 1.26 writes 0 where 1.18-1.25 wrote textStart: the caller must supply it (runtime.text,
  // moduledata or .text) and the parser must refuse to assume 0.
  auto bytes = build_pclntab(0xfffffff1, kText, 0, kFunctions, kEnd);
  auto without = parse_pclntab(view(bytes), 0);
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().find("text start"), std::string::npos) << without.error();
  auto with = parse_pclntab(view(bytes), kText);
  ASSERT_TRUE(with) << with.error();
  expect_functions(*with);
}

TEST(Pclntab, Go118EntriesAreRelativeToTheGivenTextStart) {
  auto bytes = build_pclntab(0xfffffff0, kText, kText, kFunctions, kEnd);
  auto table = parse_pclntab(view(bytes), 0x800000);  // e.g. a PIE's relocated start
  ASSERT_TRUE(table) << table.error();
  EXPECT_EQ(table->functions[1].entry, kFunctions[1].entry - kText + 0x800000);
}

TEST(Pclntab, Go118EntriesThatWrapTheAddressSpaceAreRefused) {
  auto bytes = build_pclntab(0xfffffff0, kText, kText, kFunctions, kEnd);
  EXPECT_FALSE(parse_pclntab(view(bytes), ~uint64_t{0} - 0x10));
}

TEST(Pclntab, UnknownAndOldMagicsAreRefusedWithTheReason) {
  auto bytes = build_pclntab(0xfffffff0, kText, kText, kFunctions, kEnd);
  goelf_test::put_u32(bytes, 0, 0x12345678);
  auto unknown = parse_pclntab(view(bytes), kText);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("unknown pclntab magic 0x12345678"), std::string::npos) << unknown.error();

  goelf_test::put_u32(bytes, 0, 0xfffffffb);
  auto old = parse_pclntab(view(bytes), kText);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().find("Go 1.2-1.15"), std::string::npos) << old.error();

  // A future magic (say 0xfffffff2) must not be read with an older layout.
  goelf_test::put_u32(bytes, 0, 0xfffffff2);
  EXPECT_FALSE(parse_pclntab(view(bytes), kText));
}

TEST(Pclntab, FunctionCountAboveTheCapIsRefusedWithTheReason) {
  auto bytes = build_pclntab(0xfffffff0, kText, kText, kFunctions, kEnd);
  goelf_test::put_u64(bytes, 8, dwcp::goelf::kMaxPclntabFunctions + 1);
  auto table = parse_pclntab(ByteView(bytes.data(), bytes.size()), kText);
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().find("more than the 2097152 this reader indexes"), std::string::npos) << table.error();
}

TEST(Pclntab, EmptyInputIsRefused) { EXPECT_FALSE(parse_pclntab(ByteView(), kText)); }

}  // namespace
