// Field expressions compiled to dwcp_field locations, checked field by field against the layout
// worked out by hand for each signature.
#include <gtest/gtest.h>

#include "profile/field_expr.h"

namespace dwcp::profile {
namespace {

TypeTable test_types() {
  std::map<std::string, TypeDecl> decls;
  decls["context.Context"].alias = "interface";
  TypeDecl inner;
  inner.is_struct = true;
  inner.fields.push_back({"count", 16, "int32"});
  inner.fields.push_back({"next", 24, "*Inner"});
  inner.fields.push_back({"label", 32, "string"});
  inner.fields.push_back({"ratio", 48, "float64"});
  decls["Inner"] = inner;
  TypeDecl outer;
  outer.is_struct = true;
  outer.fields.push_back({"id", 8, "int"});
  outer.fields.push_back({"inner", 16, "*Inner"});
  outer.fields.push_back({"embedded", 40, "Inner"});  // by value: offsets add up, no extra read
  outer.fields.push_back({"ok", 100, "bool"});
  decls["Outer"] = outer;
  auto table = TypeTable::build(decls, "pkg");
  EXPECT_TRUE(table.ok()) << (table.ok() ? "" : table.error());
  return std::move(*table);
}

struct Compiled {
  AbiAssignment abi;
  TypeTable types = test_types();
};

// Compiles `expr` for a function with `params` -> `results` (receiver *T in RAX).
Result<dwcp_field> compile(const std::string& params, const std::string& results, const std::string& expr, Phase phase,
                           SlotKind kind = SlotKind::Int) {
  static Compiled state;
  auto abi = assign_go_abi(GoSignature{"*T", params, results}, state.types, "pkg");
  EXPECT_TRUE(abi.ok()) << (abi.ok() ? "" : abi.error());
  if (!abi.ok()) return Error{abi.error()};
  state.abi = *abi;
  return compile_field(expr, kind, kind == SlotKind::String ? DWCP_STR_NAME : DWCP_SLOT_BYTES,
                       FieldContext{state.abi, state.types, phase});
}

std::string loc_of(const Result<dwcp_field>& field) {
  if (!field.ok()) return "error: " + field.error();
  return describe_field(*field);
}

std::string error_of(const Result<dwcp_field>& field) {
  EXPECT_FALSE(field.ok()) << describe_field(*field);
  return field.ok() ? "" : field.error();
}

TEST(FieldExpr, ParametersInRegisters) {
  // receiver RAX, o RBX, data RCX RDI RSI, n R8
  const std::string params = "o *Outer, data []byte, n int";
  EXPECT_EQ(loc_of(compile(params, "", "n", Phase::Entry)), "REG R8 width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(data)", Phase::Entry)), "REG RDI width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(data) + 8", Phase::Entry)), "REG RDI width 8 + 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(data)-16", Phase::Entry)), "REG RDI width 8 - 16");
  EXPECT_EQ(loc_of(compile(params, "", "o != nil", Phase::Entry)), "nonnil REG RBX width 8");
  auto field = compile(params, "", "len( data ) + 0x10", Phase::Entry);
  ASSERT_TRUE(field.ok());
  EXPECT_EQ(field->type, DWCP_FIELD_INT);
  EXPECT_EQ(field->slot, DWCP_SLOT_BYTES);
  EXPECT_EQ(field->add, 16);
  EXPECT_EQ(field->loc.base, DWCP_LOC_REG);
  EXPECT_EQ(field->loc.reg, 3);  // the fourth integer register (amd64 RDI, arm64 R3)
  EXPECT_EQ(field->loc.nderef, 0);
}

TEST(FieldExpr, FieldsThroughPointers) {
  const std::string params = "o *Outer";
  // One hop: *(RBX + 8).
  EXPECT_EQ(loc_of(compile(params, "", "o.id", Phase::Entry)), "REG RBX deref [8] width 8");
  // Two hops: p = *(RBX + 16); *(p + 16), 4 bytes wide (int32).
  EXPECT_EQ(loc_of(compile(params, "", "o.inner.count", Phase::Entry)), "REG RBX deref [16, 16] width 4");
  // A struct held by value adds its offset to the same hop: 40 + 16.
  EXPECT_EQ(loc_of(compile(params, "", "o.embedded.count", Phase::Entry)), "REG RBX deref [56] width 4");
  EXPECT_EQ(loc_of(compile(params, "", "o.ok", Phase::Entry)), "REG RBX deref [100] width 1");
  // Three hops is the limit (DWCP_MAX_DEREF).
  EXPECT_EQ(loc_of(compile(params, "", "o.inner.next.count", Phase::Entry)), "REG RBX deref [16, 24, 16] width 4");
  EXPECT_NE(error_of(compile(params, "", "o.inner.next.next.count", Phase::Entry)).find("DWCP_MAX_DEREF"),
            std::string::npos);
  // A string field in memory: ptr at +32, len at +40.
  EXPECT_EQ(loc_of(compile(params, "", "o.inner.label", Phase::Entry, SlotKind::String)),
            "string ptr REG RBX deref [16, 32] width 8 len REG RBX deref [16, 40] width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(o.inner.label)", Phase::Entry)), "REG RBX deref [16, 40] width 8");
}

TEST(FieldExpr, SliceElementsAndMapLength) {
  // receiver RAX, names ([]string) RBX RCX RDI, m (map) RSI
  const std::string params = "names []string, m map[string]int";
  EXPECT_EQ(loc_of(compile(params, "", "names[0]", Phase::Entry, SlotKind::String)),
            "string ptr REG RBX deref [0] width 8 len REG RBX deref [8] width 8");
  EXPECT_EQ(loc_of(compile(params, "", "names[2]", Phase::Entry, SlotKind::String)),
            "string ptr REG RBX deref [32] width 8 len REG RBX deref [40] width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(names)", Phase::Entry)), "REG RCX width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(m)", Phase::Entry)), "REG RSI deref [0] width 8");
}

TEST(FieldExpr, StackParameters) {
  // receiver RAX, ctx RBX RCX, a RDI RSI, b R8 R9 R10, s (string, 2 words, 1 left) on the stack at
  // SP+8/SP+16, then n in R11.
  const std::string params = "ctx context.Context, a string, b []byte, s string, n int";
  EXPECT_EQ(loc_of(compile(params, "", "s", Phase::Entry, SlotKind::String)),
            "string ptr STACK SP+8 width 8 len STACK SP+16 width 8");
  EXPECT_EQ(loc_of(compile(params, "", "len(s)", Phase::Entry)), "STACK SP+16 width 8");
  EXPECT_EQ(loc_of(compile(params, "", "n", Phase::Entry)), "REG R11 width 8");
}

TEST(FieldExpr, ResultsAtExit) {
  const std::string results = "o *Outer, data []byte, err error";  // RAX; RBX RCX RDI; RSI R8
  EXPECT_EQ(loc_of(compile("", results, "o.id", Phase::Exit)), "REG RAX deref [8] width 8");
  EXPECT_EQ(loc_of(compile("", results, "len(data)", Phase::Exit)), "REG RCX width 8");
  EXPECT_EQ(loc_of(compile("", results, "err != nil", Phase::Exit)), "nonnil REG RSI width 8");
  EXPECT_EQ(loc_of(compile("", results, "result2 != nil", Phase::Exit)), "nonnil REG RSI width 8");
  EXPECT_EQ(loc_of(compile("", "int, bool", "result1", Phase::Exit)), "REG RBX width 1");
}

TEST(FieldExpr, DataPointerOfASliceOrString) {
  // ptr(x) is the slice's (or string's) data word: DeltaEncoder.Encode returns the input slice
  // itself when it skips compression, which only the two pointers being equal can tell.
  EXPECT_EQ(loc_of(compile("o *Outer, data []byte, n int", "", "ptr(data)", Phase::Entry)), "REG RCX width 8");
  EXPECT_EQ(loc_of(compile("", "o *Outer, data []byte, err error", "ptr(data)", Phase::Exit)), "REG RBX width 8");
  EXPECT_EQ(loc_of(compile("", "o *Outer", "ptr(o.inner.label)", Phase::Exit)), "REG RAX deref [16, 32] width 8");
  EXPECT_NE(error_of(compile("o *Outer, data []byte, n int", "", "ptr(n)", Phase::Entry)).find("ptr() needs"),
            std::string::npos);
  EXPECT_NE(error_of(compile("o *Outer, data []byte, n int", "", "ptr(data) + 8", Phase::Entry)).find("no constant"),
            std::string::npos);
  EXPECT_NE(error_of(compile("o *Outer, data []byte, n int", "", "ptr(data) != nil", Phase::Entry)).find("ptr("),
            std::string::npos);
}

TEST(FieldExpr, PhaseMistakesAreExplained) {
  EXPECT_NE(error_of(compile("n int", "error", "result0 != nil", Phase::Entry)).find("read it in the \"exit\" block"),
            std::string::npos);
  EXPECT_NE(error_of(compile("n int", "error", "n", Phase::Exit)).find("is not available at exit"), std::string::npos);
}

TEST(FieldExpr, FloatsCannotBeRead) {
  // ratio is in X0: BPF has no access to XMM registers.
  EXPECT_NE(error_of(compile("ratio float64, n int", "", "ratio", Phase::Entry))
                .find("float arguments live in XMM registers, which BPF cannot read"),
            std::string::npos);
  EXPECT_NE(error_of(compile("o *Outer", "", "o.inner.ratio", Phase::Entry)).find("slots hold integers"),
            std::string::npos);
  // The float does not shift the integer registers: n is RBX.
  EXPECT_EQ(loc_of(compile("ratio float64, n int", "", "n", Phase::Entry)), "REG RBX width 8");
}

TEST(FieldExpr, StackResultsAreRefused) {
  // Ten int results: the tenth is on the stack.
  const std::string results = "int, int, int, int, int, int, int, int, int, int";
  EXPECT_EQ(loc_of(compile("", results, "result8", Phase::Exit)), "REG R11 width 8");
  EXPECT_NE(error_of(compile("", results, "result9", Phase::Exit)).find("returned on the stack"), std::string::npos);
}

TEST(FieldExpr, TypeMistakesSayWhatToWrite) {
  const std::string params = "data []byte, s string, o *Outer, e error, c chan int";
  EXPECT_NE(error_of(compile(params, "", "data", Phase::Entry)).find("write `len(data)`"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "e", Phase::Entry)).find("write `e != nil`"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "o", Phase::Entry)).find("o.field"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "len(o)", Phase::Entry)).find("len() needs"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "s.x", Phase::Entry)).find("only structs and pointers to structs"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "o.idd", Phase::Entry)).find("did you mean `id`?"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "dat", Phase::Entry)).find("did you mean `data`?"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "len(s)", Phase::Entry, SlotKind::String)).find("plain string"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "o.id", Phase::Entry, SlotKind::String)).find("hold strings"),
            std::string::npos);
  // c finds no register left (RAX; RBX RCX RDI; RSI R8; R9; R10 R11): SP+8, and len reads its header.
  EXPECT_EQ(loc_of(compile(params, "", "len(c)", Phase::Entry)), "STACK SP+8 deref [0] width 8");
}

TEST(FieldExpr, SyntaxErrorsNameTheColumn) {
  const std::string params = "data []byte";
  EXPECT_NE(error_of(compile(params, "", "len(data", Phase::Entry)).find("expected `)` at column 9"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "len(data) * 2", Phase::Entry)).find("unexpected character '*'"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "len(data) +", Phase::Entry)).find("expected an integer constant"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "data[i]", Phase::Entry)).find("expected a constant index"),
            std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "", Phase::Entry)).find("empty expression"), std::string::npos);
  EXPECT_NE(error_of(compile(params, "", "data != nul", Phase::Entry)).find("`nil` after `!=`"), std::string::npos);
}

}  // namespace
}  // namespace dwcp::profile
