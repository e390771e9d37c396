// RET finder on hand-written x86-64 machine code.
#include <gtest/gtest.h>

#include "goelf/ret_finder.h"

using dwcp::goelf::ByteView;
using dwcp::goelf::find_ret_offsets;

namespace {

std::vector<uint64_t> rets_of(const std::vector<uint8_t>& code) {
  auto rets = find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(code.data(), code.size()), 0x401000);
  EXPECT_TRUE(rets) << rets.error();
  return rets ? *rets : std::vector<uint64_t>{};
}

TEST(RetFinder, FindsEveryRetAndSkipsC3InsideImmediates) {
  const std::vector<uint8_t> code = {
      0x48, 0x85, 0xc0,                          // 0: test rax, rax
      0x74, 0x06,                                // 3: je +6 (to 11)
      0xb8, 0xc3, 0x00, 0x00, 0x00,              // 5: mov eax, 0xc3   <- C3 in an immediate
      0xc3,                                      // 10: ret
      0x48, 0xc7, 0xc1, 0xc3, 0xc3, 0xc3, 0x00,  // 11: mov rcx, 0xc3c3c3
      0xc2, 0x08, 0x00,                          // 18: ret 8
      0xcc, 0xcc,                                // 21: int3 padding, as Go emits
  };
  EXPECT_EQ(rets_of(code), (std::vector<uint64_t>{10, 18}));
}

TEST(RetFinder, PrefixedRetIsReportedAtItsFirstByte) {
  const std::vector<uint8_t> code = {
      0x90,        // 0: nop
      0xf3, 0xc3,  // 1: rep ret
      0x90,        // 3: nop
      0xf2, 0xc3,  // 4: bnd ret
  };
  EXPECT_EQ(rets_of(code), (std::vector<uint64_t>{1, 4}));
}

TEST(RetFinder, FarReturnsAndIretAreNotNearRets) {
  const std::vector<uint8_t> code = {0xcb, 0x48, 0xcf, 0xc3};  // retf; iretq; ret
  EXPECT_EQ(rets_of(code), (std::vector<uint64_t>{3}));
}

TEST(RetFinder, RefusesUndecodableCode) {
  const std::vector<uint8_t> invalid = {0x90, 0x06, 0xc3};  // 0x06 (push es) is invalid in 64-bit mode
  auto rets = find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(invalid.data(), invalid.size()), 0x401000);
  ASSERT_FALSE(rets);
  EXPECT_NE(rets.error().find("0x401001"), std::string::npos) << rets.error();

  const std::vector<uint8_t> cut = {0xc3, 0xb8, 0xc3, 0x00};  // ret; then a mov cut short
  EXPECT_FALSE(find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(cut.data(), cut.size()), 0x401000));
}

TEST(RetFinder, RefusesCodeWithoutRet) {
  const std::vector<uint8_t> code = {0x48, 0x89, 0xc8, 0xe9, 0x00, 0x00, 0x00, 0x00};  // mov; jmp (tail call)
  auto rets = find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(code.data(), code.size()), 0x401000);
  ASSERT_FALSE(rets);
  EXPECT_NE(rets.error().find("no RET"), std::string::npos) << rets.error();
  EXPECT_FALSE(find_ret_offsets(dwcp::goelf::Arch::Amd64, ByteView(), 0x401000));
}

TEST(RetFinder, MoreRetsThanTheCapAreRefused) {
  std::vector<uint8_t> at_cap(dwcp::goelf::kMaxRetsPerFunction, 0xc3);
  auto ok = dwcp::goelf::find_ret_offsets(dwcp::goelf::Arch::Amd64, dwcp::goelf::ByteView(at_cap.data(), at_cap.size()),
                                          0x1000);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->size(), dwcp::goelf::kMaxRetsPerFunction);
  std::vector<uint8_t> over(dwcp::goelf::kMaxRetsPerFunction + 1, 0xc3);
  auto refused =
      dwcp::goelf::find_ret_offsets(dwcp::goelf::Arch::Amd64, dwcp::goelf::ByteView(over.data(), over.size()), 0x1000);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("more than 256 RET"), std::string::npos) << refused.error();
}

}  // namespace

TEST(StartsInstruction, OnlyBoundariesOfTheLinearSweepStartInstructions) {
  // mov rax, rcx (3 bytes); ret; int3 padding
  const std::vector<uint8_t> code = {0x48, 0x89, 0xc8, 0xc3, 0xcc, 0xcc};
  const ByteView view(code.data(), code.size());
  for (uint64_t at : {0, 3, 4, 5})
    EXPECT_TRUE(*dwcp::goelf::starts_instruction(dwcp::goelf::Arch::Amd64, view, 0x1000, 0x1000 + at)) << at;
  for (uint64_t at : {1, 2})
    EXPECT_FALSE(*dwcp::goelf::starts_instruction(dwcp::goelf::Arch::Amd64, view, 0x1000, 0x1000 + at)) << at;
  EXPECT_FALSE(
      dwcp::goelf::starts_instruction(dwcp::goelf::Arch::Amd64, view, 0x1000, 0x0fff));  // before the code: an error
  // push es (06) is no instruction in 64-bit mode: stepped over, the sweep resumes on the ret.
  const std::vector<uint8_t> bad = {0x06, 0xc3, 0x48, 0x89, 0xc8};
  EXPECT_TRUE(*dwcp::goelf::starts_instruction(dwcp::goelf::Arch::Amd64, ByteView(bad.data(), bad.size()), 0, 1));
  EXPECT_FALSE(dwcp::goelf::starts_instruction(dwcp::goelf::Arch::Amd64, ByteView(bad.data(), bad.size()), 0,
                                               3));  // unknown: an error
}

// arm64: fixed 4-byte words. RET (d65f03c0) found by decoding; a word capstone does not know
// (here 0x00000000, UDF in newer decoders / a literal-pool constant) is stepped over.
TEST(RetFinder, Arm64RetsAreFoundWordByWord) {
  const std::vector<uint8_t> code = {
      0x90, 0x0b, 0x40, 0xf9,  // ldr x16, [x28, #16]   (Go's stack check)
      0xff, 0x63, 0x30, 0xeb,  // cmp sp, x16
      0xc0, 0x03, 0x5f, 0xd6,  // ret
      0x00, 0x00, 0x00, 0x00,  // not an instruction capstone 4 decodes
      0x20, 0x00, 0x80, 0xd2,  // mov x0, #1
      0xc0, 0x03, 0x5f, 0xd6,  // ret
  };
  using dwcp::goelf::Arch;
  const dwcp::goelf::ByteView view(code.data(), code.size());
  auto rets = dwcp::goelf::find_ret_offsets(Arch::Arm64, view, 0x10000);
  ASSERT_TRUE(rets) << rets.error();
  EXPECT_EQ(*rets, (std::vector<uint64_t>{8, 20}));
  EXPECT_TRUE(dwcp::goelf::starts_with_go_stack_check(Arch::Arm64, view, 0x10000));
  EXPECT_FALSE(dwcp::goelf::starts_with_go_stack_check(
      Arch::Arm64, dwcp::goelf::ByteView(code.data() + 4, code.size() - 4), 0x10004));
  // The same bytes are not amd64's stack check.
  EXPECT_FALSE(dwcp::goelf::starts_with_go_stack_check(Arch::Amd64, view, 0x10000));
  EXPECT_TRUE(*dwcp::goelf::starts_instruction(Arch::Arm64, view, 0x10000, 0x10008));
  EXPECT_FALSE(*dwcp::goelf::starts_instruction(Arch::Arm64, view, 0x10000, 0x10006));
  EXPECT_FALSE(
      dwcp::goelf::find_ret_offsets(Arch::Arm64, dwcp::goelf::ByteView(code.data() + 16, 4), 0x10010));  // no RET
}
