// RET finder on hand-written x86-64 machine code.
#include <gtest/gtest.h>

#include "goelf/ret_finder.h"

#include <cstring>
#include <vector>

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

// The entry probe's place: the branch ending Go's stack check, in the two forms Go emits; 0 (the
// entry) for anything else, including the form for very large frames and code that merely
// resembles the check.
TEST(StackCheckBranch, Amd64FormsGoEmits) {
  using dwcp::goelf::Arch;
  using dwcp::goelf::stack_check_branch_offset;
  auto at = [](std::vector<uint8_t> code) {
    return stack_check_branch_offset(Arch::Amd64, dwcp::goelf::ByteView(code.data(), code.size()));
  };
  // cmp 0x10(%r14),%rsp; jbe rel8 (Receive)
  EXPECT_EQ(at({0x49, 0x3b, 0x66, 0x10, 0x76, 0x72, 0x48, 0x83, 0xec, 0x18}), 4u);
  // cmp 0x10(%r14),%rsp; jbe rel32 (Close)
  EXPECT_EQ(at({0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x12, 0x02, 0x00, 0x00}), 4u);
  // lea -0x80(%rsp),%r12; cmp 0x10(%r14),%r12; jbe rel32 (Send)
  EXPECT_EQ(at({0x4c, 0x8d, 0x64, 0x24, 0x80, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x41, 0x08, 0x00, 0x00}), 9u);
  // lea -0x140(%rsp),%r12 (disp32); cmp 0x10(%r14),%r12; jbe rel32 (MigrateVMDisk)
  EXPECT_EQ(at({0x4c, 0x8d, 0xa4, 0x24, 0xc0, 0xfe, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x85, 0x06, 0, 0}),
            12u);
  // Not the branch: the compare without a Jcc after it, a cut-off Jcc, the R12 compare without
  // the LEAQ (R12 set some other way), a leaf function, nothing.
  EXPECT_EQ(at({0x49, 0x3b, 0x66, 0x10, 0x48, 0x83, 0xec, 0x18}), 0u);
  EXPECT_EQ(at({0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x12}), 0u);
  EXPECT_EQ(at({0x4d, 0x3b, 0x66, 0x10, 0x76, 0x72}), 0u);
  EXPECT_EQ(at({0x4c, 0x8d, 0x64, 0x24, 0x80, 0x49, 0x3b, 0x66, 0x10, 0x76, 0x72}), 0u);  // LEAQ then CMPQ SP
  EXPECT_EQ(at({0x48, 0x89, 0x44, 0x24, 0x08, 0x31, 0xc9, 0xc3}), 0u);
  EXPECT_EQ(at({}), 0u);
}

TEST(StackCheckBranch, Arm64FormsGoEmits) {
  using dwcp::goelf::Arch;
  auto at = [](std::vector<uint32_t> words) {
    std::vector<uint8_t> code(words.size() * 4);
    std::memcpy(code.data(), words.data(), code.size());  // little-endian host, as the target
    return dwcp::goelf::stack_check_branch_offset(Arch::Arm64, dwcp::goelf::ByteView(code.data(), code.size()));
  };
  // ldr x16, [x28,#16]; cmp sp, x16; b.ls (Close, Go 1.19 and 1.27)
  EXPECT_EQ(at({0xf9400b90, 0xeb3063ff, 0x54001569, 0xf81c0ffe}), 8u);
  // ldr x16, [x28,#16]; sub x17, sp, #0x90; cmp x17, x16; b.ls (Send)
  EXPECT_EQ(at({0xf9400b90, 0xd10243f1, 0xeb10023f, 0x54004189}), 12u);
  // Not the branch: a store where the b.cond should be, sub into another register, a load into
  // x17, the check cut off.
  EXPECT_EQ(at({0xf9400b90, 0xeb3063ff, 0xf81c0ffe}), 0u);
  EXPECT_EQ(at({0xf9400b90, 0xd10243f4, 0xeb10023f, 0x54004189}), 0u);
  EXPECT_EQ(at({0xf9400b91, 0xeb3063ff, 0x54001569}), 0u);
  EXPECT_EQ(at({0xf9400b90, 0xeb3063ff}), 0u);
}
