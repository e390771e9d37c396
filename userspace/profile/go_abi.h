// Go ABIInternal (Go src/cmd/compile/abi-internal.md) on amd64 and arm64: where each argument
// lives at function entry and each result at a RET instruction.
//
// Integer-class words go to the integer argument registers in order - amd64: RAX, RBX, RCX, RDI,
// RSI, R8, R9, R10, R11; arm64: R0..R15 - and floats to their own counter (amd64 X0..X14, arm64
// F0..F15). The receiver comes first. A value that does not fit ENTIRELY in the registers left
// goes to the stack as a whole (and later, smaller arguments may still get registers). Results
// are assigned the same way, independently, from the first register again. Stack arguments start
// at SP+8 at entry on both (amd64: SP+0 holds the return address; arm64: SP+0 is the slot the
// callee saves LR into), each aligned to its type's alignment; stack results follow the argument
// area, aligned to 8. A register is named by its index in assignment order (dwcp_go_reg), so the
// same profile compiles for either architecture; only the register counts differ.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "goelf/arch.h"
#include "profile/go_types.h"

namespace dwcp::profile {

using goelf::Arch;

// Integer argument registers: amd64 RAX..R11 (DWCP_REG_COUNT_AMD64), arm64 R0..R15.
int go_int_reg_count(Arch arch);
// Float argument registers: amd64 X0..X14 (X15 is the zero register), arm64 F0..F15.
int go_float_reg_count(Arch arch);
constexpr int32_t kGoStackArgsOffset = 8;  // amd64: return address at SP+0; arm64: the saved-LR slot

// Name of integer register `index` in assignment order ("RAX" / "R0" for 0), or "?".
const char* go_int_reg_name(int index, Arch arch = goelf::native_arch());

// One machine word (or smaller scalar) of a value.
struct ValuePart {
  enum class Where { IntReg, FloatReg, Stack };
  Where where = Where::IntReg;
  uint8_t reg = 0;        // integer or float register index in assignment order (dwcp_go_reg)
  int32_t stack_off = 0;  // SP-relative, for Stack
  int32_t offset = 0;     // byte offset of this part inside the value (len of a string = 8)
  uint8_t size = 8;       // bytes
  bool is_float = false;
};

struct AbiValue {
  std::string name;   // parameter name; results are "result0", "result1", ...
  std::string alias;  // a result's declared name, if the signature names it
  GoTypePtr type;
  bool on_stack = false;
  int32_t stack_off = 0;         // SP-relative start of the value when on_stack
  std::vector<ValuePart> parts;  // every word of the value, in order (empty for zero-sized values)
};

struct AbiAssignment {
  std::optional<AbiValue> receiver;
  std::vector<AbiValue> params;
  std::vector<AbiValue> results;
  int32_t stack_args_size = 0;     // bytes of stack-assigned receiver + params
  int32_t stack_results_size = 0;  // bytes of stack-assigned results
};

struct GoSignature {
  std::string receiver;  // "*MultiStreamTCP", "" for a plain function
  std::string params;    // "stream *StreamConn, chunk []byte, chunkID int"  (outer parens optional)
  std::string results;   // "int, []byte, error" or "(n int, err error)" or ""
};

// Assigns every receiver/param/result word. Types are resolved in package `scope` (see
// TypeTable::resolve). Errors start with "receiver", "params" or "results" and name the value.
Result<AbiAssignment> assign_go_abi(const GoSignature& signature, const TypeTable& types, std::string_view scope,
                                    Arch arch = goelf::native_arch());

// One named/unnamed entry of a Go parameter list: {"chunkID", "int"}; name is "" when unnamed.
struct GoParam {
  std::string name;
  std::string type;
};
// Parses a Go parameter or result list, with Go's grouping rule ("a, b int" gives both int).
Result<std::vector<GoParam>> parse_go_param_list(std::string_view list);

// "RBX", "RCX+RDI+RSI", "SP+8..SP+24", "X0" (arm64: "R1", "F0") - for messages and dumps.
std::string describe_value_location(const AbiValue& value, Arch arch = goelf::native_arch());

}  // namespace dwcp::profile
