// DWARF struct offsets against the Go compiler's own unsafe.Offsetof (printed by the test
// program), and refusals for stripped binaries and pointer paths.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "goelf/dwarf_limits.h"
#include "goelf/dwarf_types.h"
#include "goelf/elf_image.h"

using dwcp::goelf::DwarfTypes;

namespace {

const std::string kDir = GOELF_TEST_BINARIES;
const std::string kType = "example.com/goelftest/transport.MultiStreamTCP";

std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  std::string out;
  char buffer[256];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe.get())) out += buffer;
  return out;
}

TEST(DwarfTypes, FieldOffsetsMatchTheCompiler) {
#ifndef DWCP_GOELF_HAVE_LIBDW
  GTEST_SKIP() << "built without libdw";
#endif
  unsigned long sent = 0, chunks = 0;
  ASSERT_EQ(std::sscanf(run(kDir + "/plain offsets").c_str(), "sent=%lu chunks=%lu", &sent, &chunks), 2);
  ASSERT_EQ(sent, 16u);  // after the name string: keeps the check from passing by luck at 0

  for (const char* file : {"plain", "pie"}) {
    SCOPED_TRACE(file);
    auto types = DwarfTypes::open(kDir + "/" + file);
    ASSERT_TRUE(types) << types.error();
    EXPECT_GT(types->struct_count(), 100u);
    auto s = types->field_offset(kType, "sent");
    auto c = types->field_offset(kType, "chunks");
    ASSERT_TRUE(s && c) << (s ? c.error() : s.error());
    EXPECT_EQ(*s, sent);
    EXPECT_EQ(*c, chunks);
  }
}

TEST(DwarfTypes, PathsWalkInlineStructsButNotPointers) {
#ifndef DWCP_GOELF_HAVE_LIBDW
  GTEST_SKIP() << "built without libdw";
#endif
  auto types = DwarfTypes::open(kDir + "/plain");
  ASSERT_TRUE(types) << types.error();
  // runtime.g starts with `stack stack` and runtime.stack is {lo, hi uintptr}.
  auto hi = types->field_offset("runtime.g", "stack.hi");
  ASSERT_TRUE(hi) << hi.error();
  EXPECT_EQ(*hi, 8u);
  auto through_pointer = types->field_offset("runtime.g", "m.id");
  ASSERT_FALSE(through_pointer);
  EXPECT_NE(through_pointer.error().find("pointer"), std::string::npos) << through_pointer.error();
  EXPECT_FALSE(types->field_offset(kType, "nope"));
  EXPECT_FALSE(types->field_offset("no.SuchType", "x"));
}

TEST(DwarfTypes, StrippedBinariesHaveNoDwarf) {
  for (const char* file : {"stripped", "stripped_pie"}) {
    auto types = DwarfTypes::open(kDir + "/" + file);
    EXPECT_FALSE(types) << file;
  }
  EXPECT_FALSE(DwarfTypes::open(kDir + "/does-not-exist"));
}

}  // namespace

// The cap on compressed DWARF (dwarf_limits.h) reads the sizes the real Go binary declares.
TEST(DwarfLimits, DeclaredInflatedSizeOfARealBinaryAndTheCap) {
  std::ifstream file(kDir + "/plain", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), {});
  auto elf = dwcp::goelf::ElfImage::parse(std::move(bytes));
  ASSERT_TRUE(elf) << elf.error();
  auto total = dwcp::goelf::declared_inflated_size(*elf);
  ASSERT_TRUE(total) << total.error();
  // Go compresses its DWARF: some MB inflated, far under the cap.
  EXPECT_GT(*total, 100000u);
  EXPECT_LT(*total, dwcp::goelf::kMaxInflatedDebugBytes);
  auto capped = dwcp::goelf::declared_inflated_size(*elf, *total - 1);
  ASSERT_FALSE(capped);
  EXPECT_NE(capped.error().find("not inflated"), std::string::npos) << capped.error();
  EXPECT_TRUE(dwcp::goelf::declared_inflated_size(*elf, *total));
}
