// The field expression language of a probe profile, compiled to `struct dwcp_field`
// (include/dwcp_observer/events.h). Grammar:
//
//   expr    := operand [ ('+' | '-') INTEGER ]      integer slots (constant add, e.g. the 8-byte wire header)
//            | path '!=' 'nil'                      integer slots: 1 when the first word is non-zero
//   operand := 'len' '(' path ')' | path
//   path    := NAME ( '.' FIELD | '[' INTEGER ']' )*
//
// NAME is a parameter (entry) or resultN / a named result (exit). `.FIELD` follows pointers
// (one dereference per pointer) using the offsets of the profile's "types" table; `[N]` reads
// element N of a slice (no bounds check: the BPF side reads what is there). len() works on
// strings and slices (the len word) and on maps and channels (the count at offset 0 of the
// runtime header). String slots (name, peer) take a path of type string.
#pragma once

#include <string_view>
#include <vector>

#include "dwcp_observer/events.h"
#include "profile/go_abi.h"

namespace dwcp::profile {

enum class Phase { Entry, Exit };
enum class SlotKind { Int, String };

struct FieldContext {
  const AbiAssignment& abi;
  const TypeTable& types;
  Phase phase;
  // When set, every struct field an expression reads is appended here, with the type's key in
  // the "types" table as `go_type` (the caller qualifies it with the package).
  std::vector<FieldOffsetUse>* field_uses = nullptr;
};

// Compiles one expression for the value slot `slot` (enum dwcp_slot, or DWCP_STR_* for String).
// Errors describe the expression and say what to write instead.
Result<dwcp_field> compile_field(std::string_view expr, SlotKind kind, uint8_t slot, const FieldContext& context);

// "REG RBX deref [8] width 8", "STACK SP+16 width 8" - for messages and dumps.
std::string describe_loc(const dwcp_loc& loc);
std::string describe_field(const dwcp_field& field);

}  // namespace dwcp::profile
