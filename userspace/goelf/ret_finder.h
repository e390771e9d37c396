// Finds the RET instructions of a function by decoding its machine code (x86-64 or arm64) with
// capstone.
// Why: uretprobes corrupt Go stacks (Go moves goroutine stacks under the return trampoline),
// so return values are read by uprobes placed on each RET instead. A probe placed anywhere but
// on an instruction boundary corrupts the target's code, so on x86-64 we decode linearly from the
// entry (Go emits no data inside .text) and refuse the function if any byte range fails to decode.
// On arm64 every instruction is one aligned 4-byte word: boundaries are known without decoding,
// and a word capstone does not know (a newer instruction, or a constant of Go's literal pool
// placed after the code) is stepped over, never probed.
#pragma once

#include <cstdint>
#include <vector>

#include "dwcp_observer/result.h"
#include "goelf/arch.h"
#include "goelf/bytes.h"

namespace dwcp::goelf {

// Offsets, relative to the start of code, of every RET (x86-64: near RET, C3, C2 iw, with any
// prefixes: the offset is that of the first prefix byte, i.e. the instruction boundary; arm64:
// RET, the return through the link register). code_address is
// the virtual address of code[0], used in error messages. Fails when a byte sequence does not
// decode as an instruction (x86-64), when the code holds no RET, or when it holds more than
// kMaxRetsPerFunction (each RET is a uprobe: no Go function a profile probes has that many).
constexpr size_t kMaxRetsPerFunction = 256;
Result<std::vector<uint64_t>> find_ret_offsets(Arch arch, ByteView code, uint64_t code_address);

// Whether a linear sweep of code (at code_address) from its first byte lands exactly on target:
// true when target starts an instruction, false when an instruction spans it. Bytes that do not
// decode are stepped over one at a time; when there were some and the sweep misses target, the
// answer is an error (unknown), not false. code must end at or after target. arm64: whether
// target is 4-byte aligned (every instruction is).
Result<bool> starts_instruction(Arch arch, ByteView code, uint64_t code_address, uint64_t target);

// Whether code (a function's first bytes) begins with the stack-bound check Go (1.17+, register
// ABI: R14 holds g) puts at the top of every function that calls another: CMPQ SP, 16(R14), or
// for larger frames LEAQ/MOVQ+SUBQ into R12 then CMPQ R12, 16(R14), within its first four
// instructions. Every function a profile probes calls others; C code does not load from R14.
// arm64 (g in R28): MOVD 16(g), Rt (LDR Xt, [X28, #16]) within the first four instructions.
bool starts_with_go_stack_check(Arch arch, ByteView code, uint64_t code_address);

// Where a function's entry probe goes: the offset, in code (the function's first bytes), of the
// conditional branch that ends Go's stack-bound check, or 0 (the entry) when the function does
// not begin with one of the two forms Go emits for frames up to a few KiB:
//   x86-64: [LEAQ -N(SP), R12;] CMPQ SP|R12, 16(R14); Jcc          (JLS, rel8 or rel32)
//   arm64:  LDR X16, [X28, #16]; [SUB X17, SP, #N; CMP X17, X16 | CMP SP, X16]; B.cond
// Why: the kernel emulates a probed conditional branch in the trap, while it single-steps most
// other instructions out of line (a second exception per hit): 0.4 against 3.5 us per hit on the
// VMs measured (docs/performance.md). Up to the branch only scratch registers are written (R12;
// X16, X17: no argument register of Go's ABI), SP and the return address are untouched, so a
// probe there reads arguments and goroutine exactly as at the entry. The branch runs once per call
// as the entry does (twice when the stack grows: morestack re-runs the function from its start).
uint64_t stack_check_branch_offset(Arch arch, ByteView code);

}  // namespace dwcp::goelf
