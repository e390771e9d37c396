// Go types as far as the ABI assignment and the field expressions need them: size, alignment,
// kind, and for the named structs of a profile the offsets of the fields it reads.
//
// Type expressions are the ones of Go source (`*StreamConn`, `[]byte`, `map[int][]byte`,
// `func(int64)`, `context.Context`). Builtins are known; every other named type comes from the
// profile's "types" table. A pointer's target is resolved only when an expression dereferences
// it, so a pointer to a type the profile never declares (a receiver, `*net.TCPConn`) is fine.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dwcp_observer/result.h"

namespace dwcp::profile {

using dwcp::Error;
using dwcp::Result;

// Stand-in for Result<void>.
struct Ok {};

struct GoType;
using GoTypePtr = std::shared_ptr<const GoType>;

struct GoField {
  std::string name;
  int32_t offset = 0;
  GoTypePtr type;
};

struct GoType {
  enum class Kind {
    Bool,
    Int,      // every intN/uintN/uintptr: `size` says how wide
    Float,    // float32, float64
    Complex,  // complex64, complex128
    String,
    Pointer,  // also unsafe.Pointer
    Slice,
    Array,
    Map,
    Chan,
    Func,
    Interface,  // error, any, context.Context, ...
    Struct,
  };
  Kind kind = Kind::Int;
  std::string name;  // the spelling it was declared or written with, for messages
  int64_t size = 8;
  int64_t align = 8;
  bool size_known = true;  // false for a declared struct without "size"

  GoTypePtr elem;               // Slice/Array/Chan element, Map value
  int64_t length = 0;           // Array
  std::string pointee;          // Pointer: target type expression, resolved lazily ("" = unsafe.Pointer)
  std::string pointee_scope;    // Pointer: package the target expression is written in
  std::vector<GoField> fields;  // Struct: the fields the profile declares (not necessarily all)

  const GoField* field(std::string_view field_name) const;
  bool is_word_scalar() const { return kind == Kind::Bool || kind == Kind::Int; }
  // Types whose first word is a pointer or type word, so `x != nil` means "that word != 0".
  bool is_nillable() const;
};

// One entry of the profile's "types" table before resolution.
struct TypeDecl {
  // Alias form: `"CompressionLevel": "int"`, `"context.Context": "interface"`,
  // `"Handle": "pointer"` (an opaque pointer-shaped type).
  std::string alias;
  // Struct form: `{"kind": "struct", "size": 72, "fields": {"streamID": {"offset": 8, "type": "int"}}}`.
  bool is_struct = false;
  int64_t size = -1;  // -1: not declared
  struct Field {
    std::string name;
    int64_t offset = 0;
    std::string type;
  };
  std::vector<Field> fields;
};

class TypeTable {
 public:
  // Resolves every declaration (so a typo fails at load, naming the entry). `root_scope` is the
  // name of the profile's own package (last element of its path, e.g. "dwcp").
  static Result<TypeTable> build(const std::map<std::string, TypeDecl>& decls, std::string root_scope);

  // Resolves a type expression written inside package `scope` ("transport", "dwcp"). An unqualified
  // name is looked up as builtin, then `scope.Name`, then `Name`.
  Result<GoTypePtr> resolve(std::string_view expr, std::string_view scope) const;

  const std::string& root_scope() const { return root_scope_; }

 private:
  Result<GoTypePtr> resolve_named(const std::string& name, std::string_view scope, int depth) const;
  Result<GoTypePtr> parse(std::string_view expr, std::string_view scope, int depth) const;
  Result<GoTypePtr> resolve_decl(const std::string& key, int depth) const;

  std::map<std::string, TypeDecl> decls_;
  std::string root_scope_;
  // Filled by build(): every declared name resolved once.
  std::map<std::string, GoTypePtr> resolved_;
};

// The package a qualified type key belongs to: "transport.StreamConn" -> "transport",
// "StreamConn" -> "" (the root scope).
std::string type_key_scope(std::string_view key);

// The Go (and DWARF) name of a type key of the profile's "types" table, for the profile's
// `package`: "transport.StreamConn" -> package + "/transport.StreamConn"; "StreamConn" and
// "dwcp.StreamConn" (root scope) -> package + ".StreamConn". Keys name the root package or one of
// its subpackages, the same convention as probe function names.
std::string qualified_type_name(std::string_view key, std::string_view package, std::string_view root_scope);

// A struct field read by a compiled expression, with the offset the profile gave it, so the agent
// can compare that offset with the binary's DWARF before trusting it.
struct FieldOffsetUse {
  std::string go_type;  // fully qualified DWARF name: "github.com/.../transport.StreamConn"
  std::string field;    // "streamID"
  int64_t offset = 0;   // as declared in the profile's "types"
  bool operator==(const FieldOffsetUse& other) const {
    return go_type == other.go_type && field == other.field && offset == other.offset;
  }
};

// Splits a Go parameter list at its top-level commas ("a, b int, c []byte" -> 3 items).
std::vector<std::string> split_top_level(std::string_view list);

std::string trim(std::string_view text);

// " (did you mean `streamID`?)" when one candidate is a close spelling of `word`, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// "a, b, c" for messages.
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

}  // namespace dwcp::profile
