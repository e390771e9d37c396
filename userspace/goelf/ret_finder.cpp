#include "goelf/ret_finder.h"
#include "dwcp_observer/text.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

namespace dwcp::goelf {

namespace {

struct CapstoneHandle {
  csh handle = 0;
  bool open = false;
  explicit CapstoneHandle(Arch arch = Arch::Amd64) {
    open = (arch == Arch::Arm64 ? cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &handle)
                                : cs_open(CS_ARCH_X86, CS_MODE_64, &handle)) == CS_ERR_OK;
  }
  ~CapstoneHandle() {
    if (open) cs_close(&handle);
  }
  CapstoneHandle(const CapstoneHandle&) = delete;
  CapstoneHandle& operator=(const CapstoneHandle&) = delete;
};

struct InsnDeleter {
  void operator()(cs_insn* insn) const { cs_free(insn, 1); }
};

constexpr uint64_t kArm64InsnSize = 4;

Result<std::vector<uint64_t>> too_many_rets(uint64_t code_address) {
  return Error{"function at " + hex(code_address) + " has more than " + std::to_string(kMaxRetsPerFunction) +
               " RET instructions: not probing that many return sites"};
}

Result<std::vector<uint64_t>> no_ret(uint64_t code_address) {
  return Error{"function at " + hex(code_address) +
               " contains no RET instruction (it may only tail-call "
               "or never return): its return cannot be probed"};
}

// arm64: one word at a time; a word capstone cannot decode is not an instruction we would probe.
Result<std::vector<uint64_t>> find_arm64_ret_offsets(ByteView code, uint64_t code_address) {
  if (code_address % kArm64InsnSize != 0)
    return Error{"arm64 function at " + hex(code_address) + " is not 4-byte aligned"};
  CapstoneHandle capstone(Arch::Arm64);
  if (!capstone.open) return Error{"capstone could not open an arm64 disassembler"};
  std::unique_ptr<cs_insn, InsnDeleter> insn(cs_malloc(capstone.handle));
  if (!insn) return Error{"capstone could not allocate an instruction"};
  std::vector<uint64_t> rets;
  for (uint64_t offset = 0; offset + kArm64InsnSize <= code.size(); offset += kArm64InsnSize) {
    const uint8_t* cursor = code.data() + offset;
    size_t remaining = kArm64InsnSize;
    uint64_t address = code_address + offset;
    if (!cs_disasm_iter(capstone.handle, &cursor, &remaining, &address, insn.get())) continue;
    if (insn->id != ARM64_INS_RET) continue;
    if (rets.size() == kMaxRetsPerFunction) return too_many_rets(code_address);
    rets.push_back(offset);
  }
  if (rets.empty()) return no_ret(code_address);
  return rets;
}

}  // namespace

Result<std::vector<uint64_t>> find_ret_offsets(Arch arch, ByteView code, uint64_t code_address) {
  if (code.empty()) return Error{"function at " + hex(code_address) + " has no code bytes"};
  if (arch == Arch::Arm64) return find_arm64_ret_offsets(code, code_address);
  CapstoneHandle capstone;
  if (!capstone.open) return Error{"capstone could not open an x86-64 disassembler"};
  // Details off: the instruction id is all we need, and it keeps decoding fast.
  std::unique_ptr<cs_insn, InsnDeleter> insn(cs_malloc(capstone.handle));
  if (!insn) return Error{"capstone could not allocate an instruction"};

  const uint8_t* cursor = code.data();
  size_t remaining = code.size();
  uint64_t address = code_address;
  std::vector<uint64_t> rets;
  while (remaining > 0) {
    if (!cs_disasm_iter(capstone.handle, &cursor, &remaining, &address, insn.get())) {
      return Error{"cannot decode the instruction at " + hex(address) + " (offset " + hex(address - code_address) +
                   " in the function): refusing to place probes in code "
                   "we cannot decode"};
    }
    if (insn->id == X86_INS_RET) {
      if (rets.size() == kMaxRetsPerFunction) return too_many_rets(code_address);
      rets.push_back(insn->address - code_address);
    }
  }
  if (rets.empty()) return no_ret(code_address);
  return rets;
}

Result<bool> starts_instruction(Arch arch, ByteView code, uint64_t code_address, uint64_t target) {
  if (target < code_address || target - code_address > code.size()) {
    return Error{"address " + hex(target) + " is not inside the code swept from " + hex(code_address)};
  }
  if (arch == Arch::Arm64) return target % kArm64InsnSize == 0;
  CapstoneHandle capstone;
  if (!capstone.open) return Error{"capstone could not open an x86-64 disassembler"};
  std::unique_ptr<cs_insn, InsnDeleter> insn(cs_malloc(capstone.handle));
  if (!insn) return Error{"capstone could not allocate an instruction"};
  const uint8_t* cursor = code.data();
  size_t remaining = code.size();
  uint64_t address = code_address;
  // Capstone 4 does not know every instruction (some AVX-512 forms Go's runtime uses): past an
  // unknown one, step a byte at a time until decoding resumes. Go's INT3 padding between
  // functions brings the sweep back onto the real boundaries before the next entry.
  size_t unknown = 0;
  while (address < target) {
    if (!cs_disasm_iter(capstone.handle, &cursor, &remaining, &address, insn.get())) {
      if (remaining == 0) break;
      ++unknown;
      ++cursor;
      --remaining;
      ++address;
    }
  }
  if (unknown > 0 && address != target) {
    return Error{std::to_string(unknown) + " bytes before " + hex(target) + " do not decode"};
  }
  return address == target;
}

bool starts_with_go_stack_check(Arch arch, ByteView code, uint64_t code_address) {
  if (arch == Arch::Arm64) {
    // LDR Xt, [X28, #16] (64-bit, unsigned offset 16/8 = 2, Rn = 28), any Rt: g.stackguard0.
    constexpr uint32_t kLdrG16 = 0xf9400b80, kRtMask = 0xffffffe0;
    for (uint64_t offset = 0; offset + kArm64InsnSize <= code.size() && offset < 4 * kArm64InsnSize;
         offset += kArm64InsnSize) {
      uint32_t word = 0;
      std::memcpy(&word, code.data() + offset, sizeof word);  // little-endian, as the host
      if ((word & kRtMask) == kLdrG16) return true;
    }
    return false;
  }
  // The compare's encodings: REX.W(+R/B) 3B /r with ModRM [R14+disp8] and disp8 = 16 (g.stackguard0).
  static constexpr uint8_t kCmpSp[] = {0x49, 0x3b, 0x66, 0x10};   // CMPQ SP, 16(R14)
  static constexpr uint8_t kCmpR12[] = {0x4d, 0x3b, 0x66, 0x10};  // CMPQ R12, 16(R14)
  CapstoneHandle capstone;
  if (!capstone.open) return false;
  std::unique_ptr<cs_insn, InsnDeleter> insn(cs_malloc(capstone.handle));
  if (!insn) return false;
  const uint8_t* cursor = code.data();
  size_t remaining = code.size();
  uint64_t address = code_address;
  for (int i = 0; i < 4 && cs_disasm_iter(capstone.handle, &cursor, &remaining, &address, insn.get()); ++i) {
    if (insn->size != 4) continue;
    if (std::memcmp(insn->bytes, kCmpSp, 4) == 0 || std::memcmp(insn->bytes, kCmpR12, 4) == 0) return true;
  }
  return false;
}

uint64_t stack_check_branch_offset(Arch arch, ByteView code) {
  auto has = [&](uint64_t at, std::initializer_list<uint8_t> bytes) {
    return at + bytes.size() <= code.size() && std::equal(bytes.begin(), bytes.end(), code.data() + at);
  };
  if (arch == Arch::Arm64) {
    auto word = [&](uint64_t at) {
      uint32_t w = 0;
      if (at + kArm64InsnSize <= code.size()) std::memcpy(&w, code.data() + at, sizeof w);  // little-endian
      return w;
    };
    constexpr uint32_t kLdrX16G16 = 0xf9400b90;                                   // ldr x16, [x28, #16]
    constexpr uint32_t kCmpSpX16 = 0xeb3063ff;                                    // cmp sp, x16
    constexpr uint32_t kCmpX17X16 = 0xeb10023f;                                   // cmp x17, x16
    auto sub_x17_sp = [](uint32_t w) { return (w & 0xff8003ff) == 0xd10003f1; };  // sub x17, sp, #imm12{, lsl #12}
    auto b_cond = [](uint32_t w) { return (w & 0xff000010) == 0x54000000; };
    if (word(0) != kLdrX16G16) return 0;
    if (word(4) == kCmpSpX16 && b_cond(word(8))) return 8;
    if (sub_x17_sp(word(4)) && word(8) == kCmpX17X16 && b_cond(word(12))) return 12;
    return 0;
  }
  uint64_t at = 0;
  bool r12 = false;
  if (has(0, {0x4c, 0x8d, 0x64, 0x24})) {  // LEAQ disp8(SP), R12
    at = 5;
    r12 = true;
  } else if (has(0, {0x4c, 0x8d, 0xa4, 0x24})) {  // LEAQ disp32(SP), R12
    at = 8;
    r12 = true;
  }
  if (!has(at, {static_cast<uint8_t>(r12 ? 0x4d : 0x49), 0x3b, 0x66, 0x10})) return 0;  // CMPQ SP|R12, 16(R14)
  at += 4;
  const uint8_t* op = code.data() + at;
  if (at + 2 <= code.size() && op[0] >= 0x70 && op[0] <= 0x7f) return at;                   // Jcc rel8
  if (at + 6 <= code.size() && op[0] == 0x0f && op[1] >= 0x80 && op[1] <= 0x8f) return at;  // Jcc rel32
  return 0;
}

}  // namespace dwcp::goelf
