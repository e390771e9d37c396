// Finds the RET instructions of a function by decoding its x86-64 machine code with capstone.
// Why: uretprobes corrupt Go stacks (Go moves goroutine stacks under the return trampoline),
// so return values are read by uprobes placed on each RET instead. A probe placed anywhere but
// on an instruction boundary corrupts the target's code, so we decode linearly from the entry
// (Go emits no data inside .text) and refuse the function if any byte range fails to decode.
#pragma once

#include <cstdint>
#include <vector>

#include "goelf/bytes.h"
#include "goelf/result.h"

namespace dwcp::goelf {

// Offsets, relative to the start of code, of every near RET (C3, C2 iw, with any prefixes:
// the offset is that of the first prefix byte, i.e. the instruction boundary). code_address is
// the virtual address of code[0], used in error messages. Fails when a byte sequence does not
// decode as an instruction, when the code holds no RET, or when it holds more than
// kMaxRetsPerFunction (each RET is a uprobe: no Go function a profile probes has that many).
constexpr size_t kMaxRetsPerFunction = 256;
Result<std::vector<uint64_t>> find_ret_offsets(ByteView code, uint64_t code_address);

// Whether a linear sweep of code (at code_address) from its first byte lands exactly on target:
// true when target starts an instruction, false when an instruction spans it. Bytes that do not
// decode are stepped over one at a time; when there were some and the sweep misses target, the
// answer is an error (unknown), not false. code must end at or after target.
Result<bool> starts_instruction(ByteView code, uint64_t code_address, uint64_t target);

// Whether code (a function's first bytes) begins with the stack-bound check Go (1.17+, register
// ABI: R14 holds g) puts at the top of every function that calls another: CMPQ SP, 16(R14), or
// for larger frames LEAQ/MOVQ+SUBQ into R12 then CMPQ R12, 16(R14), within its first four
// instructions. Every function a profile probes calls others; C code does not load from R14.
bool starts_with_go_stack_check(ByteView code, uint64_t code_address);

}  // namespace dwcp::goelf
