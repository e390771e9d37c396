#include "profile/field_expr.h"

#include <cctype>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace dwcp::profile {
namespace {

using Kind = GoType::Kind;

constexpr const char* kFloatError = "float arguments live in XMM registers, which BPF cannot read";

// ---- tokens -----------------------------------------------------------------------------------

struct Token {
  enum class Type { Name, Integer, Symbol, End };
  Type type = Type::End;
  std::string text;
  size_t column = 0;  // 1-based, for messages
};

Result<std::vector<Token>> tokenize(std::string_view expr) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token;
    token.column = i + 1;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      token.type = Token::Type::Name;
      while (i < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[i])) || expr[i] == '_'))
        token.text += expr[i++];
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      token.type = Token::Type::Integer;
      while (i < expr.size() && std::isalnum(static_cast<unsigned char>(expr[i]))) token.text += expr[i++];
    } else if (expr.substr(i, 2) == "!=") {
      token.type = Token::Type::Symbol;
      token.text = "!=";
      i += 2;
    } else if (std::strchr(".[]()+-", c) != nullptr) {
      token.type = Token::Type::Symbol;
      token.text = std::string(1, c);
      ++i;
    } else {
      return Error{"unexpected character '" + std::string(1, c) + "' at column " + std::to_string(i + 1)};
    }
    tokens.push_back(token);
  }
  Token end;
  end.column = expr.size() + 1;
  tokens.push_back(end);
  return tokens;
}

Result<int64_t> parse_integer(const Token& token) {
  try {
    size_t used = 0;
    const long long value = std::stoll(token.text, &used, 0);  // decimal or 0x...
    if (used != token.text.size()) throw std::invalid_argument("trailing");
    return static_cast<int64_t>(value);
  } catch (const std::exception&) {
    return Error{"`" + token.text + "` at column " + std::to_string(token.column) + " is not an integer"};
  }
}

// ---- syntax tree --------------------------------------------------------------------------------

struct Selector {
  bool is_index = false;
  std::string field;
  int64_t index = 0;
};

struct Parsed {
  std::string root;
  std::vector<Selector> selectors;
  bool is_len = false;
  bool is_ptr = false;  // ptr(x): the data pointer word of a slice or string, as an integer
  bool is_nonnil = false;
  int64_t add = 0;
  bool has_add = false;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<Parsed> parse() {
    Parsed parsed;
    if (peek().type == Token::Type::Name && (peek().text == "len" || peek().text == "ptr") && peek(1).text == "(") {
      (peek().text == "len" ? parsed.is_len : parsed.is_ptr) = true;
      pos_ += 2;
      if (auto ok = path(parsed); !ok) return Error{ok.error()};
      if (auto ok = expect(")"); !ok) return Error{ok.error()};
    } else if (auto ok = path(parsed); !ok) {
      return Error{ok.error()};
    }
    if (peek().text == "+" || peek().text == "-") {
      const bool minus = next().text == "-";
      if (peek().type != Token::Type::Integer) return unexpected("an integer constant");
      auto value = parse_integer(next());
      if (!value) return Error{value.error()};
      parsed.add = minus ? -*value : *value;
      parsed.has_add = true;
    } else if (peek().text == "!=") {
      ++pos_;
      if (peek().type != Token::Type::Name || peek().text != "nil") return unexpected("`nil` after `!=`");
      ++pos_;
      if (parsed.is_len) return Error{"`len(...) != nil` makes no sense: compare the value itself with nil"};
      if (parsed.is_ptr) return Error{"`ptr(...) != nil`: write `x != nil` for a slice or string"};
      parsed.is_nonnil = true;
    }
    if (peek().type != Token::Type::End) return unexpected("the end of the expression");
    return parsed;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& token = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return token;
  }

  Error unexpected(const std::string& wanted) const {
    const Token& token = peek();
    const std::string found = token.type == Token::Type::End ? "the end" : "`" + token.text + "`";
    return Error{"expected " + wanted + " at column " + std::to_string(token.column) + ", found " + found};
  }

  Result<Ok> expect(const std::string& symbol) {
    if (peek().text != symbol || peek().type != Token::Type::Symbol) return unexpected("`" + symbol + "`");
    ++pos_;
    return Ok{};
  }

  Result<Ok> path(Parsed& parsed) {
    if (peek().type != Token::Type::Name) return unexpected("a parameter or result name");
    parsed.root = next().text;
    while (true) {
      if (peek().text == "." && peek().type == Token::Type::Symbol) {
        ++pos_;
        if (peek().type != Token::Type::Name) return unexpected("a field name after `.`");
        Selector selector;
        selector.field = next().text;
        parsed.selectors.push_back(selector);
      } else if (peek().text == "[" && peek().type == Token::Type::Symbol) {
        ++pos_;
        if (peek().type != Token::Type::Integer) return unexpected("a constant index");
        auto index = parse_integer(next());
        if (!index) return Error{index.error()};
        if (auto ok = expect("]"); !ok) return ok;
        Selector selector;
        selector.is_index = true;
        selector.index = *index;
        parsed.selectors.push_back(selector);
      } else {
        return Ok{};
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

// ---- evaluation to locations --------------------------------------------------------------------

// Where a (sub)value lives: directly in the argument words of the ABI, or in memory at
// value(addr) + offset.
struct Value {
  GoTypePtr type;
  std::string text;  // the expression so far, for messages
  bool in_memory = false;
  const AbiValue* direct = nullptr;
  int32_t direct_offset = 0;
  dwcp_loc addr{};
  int64_t offset = 0;
};

std::string kind_name(Kind kind) {
  switch (kind) {
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "integer";
    case Kind::Float:
      return "float";
    case Kind::Complex:
      return "complex";
    case Kind::String:
      return "string";
    case Kind::Pointer:
      return "pointer";
    case Kind::Slice:
      return "slice";
    case Kind::Array:
      return "array";
    case Kind::Map:
      return "map";
    case Kind::Chan:
      return "channel";
    case Kind::Func:
      return "func";
    case Kind::Interface:
      return "interface";
    case Kind::Struct:
      return "struct";
  }
  return "?";
}

std::string describe_type(const GoType& type) { return kind_name(type.kind) + " `" + type.name + "`"; }

Result<dwcp_loc> word_loc(const Value& value, int32_t byte_offset, uint8_t width) {
  dwcp_loc loc{};
  loc.width = width;
  if (value.in_memory) {
    loc = value.addr;
    if (loc.nderef >= DWCP_MAX_DEREF)
      return Error{"`" + value.text + "` needs more than " + std::to_string(DWCP_MAX_DEREF) +
                   " pointer reads (DWCP_MAX_DEREF); read a shorter chain"};
    const int64_t offset = value.offset + byte_offset;
    if (offset > INT32_MAX || offset < INT32_MIN) return Error{"`" + value.text + "`: offset out of range"};
    loc.deref[loc.nderef++] = static_cast<int32_t>(offset);
    loc.width = width;
    return loc;
  }
  const int32_t wanted = value.direct_offset + byte_offset;
  for (const auto& part : value.direct->parts) {
    if (part.offset != wanted) continue;
    if (part.where == ValuePart::Where::FloatReg || part.is_float) return Error{"`" + value.text + "`: " + kFloatError};
    if (part.where == ValuePart::Where::Stack) {
      loc.base = DWCP_LOC_STACK;
      loc.stack_off = part.stack_off;
    } else {
      loc.base = DWCP_LOC_REG;
      loc.reg = part.reg;
    }
    return loc;
  }
  return Error{"`" + value.text + "`: no argument word at offset " + std::to_string(wanted)};
}

class Evaluator {
 public:
  explicit Evaluator(const FieldContext& context) : context_(context) {}

  Result<Value> root(const std::string& name) const {
    const AbiAssignment& abi = context_.abi;
    const bool exit = context_.phase == Phase::Exit;
    std::vector<std::string> names;
    const AbiValue* found = nullptr;
    if (exit) {
      for (const auto& result : abi.results) {
        names.push_back(result.name);
        if (!result.alias.empty() && result.alias != "_") names.push_back(result.alias);
        if (result.name == name || (!result.alias.empty() && result.alias == name)) found = &result;
      }
    } else {
      for (const auto& param : abi.params) {
        if (param.name.empty() || param.name == "_") continue;
        names.push_back(param.name);
        if (param.name == name) found = &param;
      }
      // `receiver`: a method's receiver (the AMST session for *MultiStreamTCP methods), unless a
      // parameter is called that.
      if (!found && abi.receiver && name == "receiver") found = &*abi.receiver;
    }
    if (!found) {
      if (exit) {
        for (const auto& param : abi.params) {
          if (param.name == name)
            return Error{"parameter `" + name +
                         "` is not available at exit (its registers are reused by then);"
                         " read it in the \"entry\" block"};
        }
      } else if (name.rfind("result", 0) == 0) {
        return Error{"`" + name + "` is a result: results exist only at a RET, so read it in the \"exit\" block"};
      }
      const std::string what = exit ? "result" : "parameter";
      if (names.empty())
        return Error{"unknown " + what + " `" + name + "`: this function has no " + what + "s" +
                     (exit ? " (check \"results\")" : " (check \"params\")")};
      return Error{"unknown " + what + " `" + name + "`" + did_you_mean(name, names) + "; the " + what +
                   "s are: " + join(names)};
    }
    if (exit && found->on_stack)
      return Error{"`" + name +
                   "` is returned on the stack (the result registers ran out at this result);"
                   " reading stack results is not supported"};
    Value value;
    value.type = found->type;
    value.text = name;
    value.direct = found;
    return value;
  }

  // *pointer: the pointed-to value, in memory.
  Result<Value> deref(const Value& pointer) const {
    if (pointer.type->pointee.empty())
      return Error{"`" + pointer.text + "` is an opaque pointer (" + pointer.type->name +
                   "): declare what it points to to read through it"};
    auto target = context_.types.resolve(pointer.type->pointee, pointer.type->pointee_scope);
    if (!target) return Error{"`" + pointer.text + "`: " + target.error()};
    auto loc = word_loc(pointer, 0, 8);
    if (!loc) return Error{loc.error()};
    Value value;
    value.type = *target;
    value.text = pointer.text;
    value.in_memory = true;
    value.addr = *loc;
    return value;
  }

  Result<Value> select_field(const Value& base, const std::string& field_name) const {
    Value value = base;
    if (value.type->kind == Kind::Pointer) {
      auto target = deref(value);
      if (!target) return target;
      value = *target;
    }
    const std::string text = base.text + "." + field_name;
    if (value.type->kind != Kind::Struct)
      return Error{"`" + base.text + "` is a " + describe_type(*value.type) +
                   ": only structs and pointers to structs have fields"};
    const GoField* field = value.type->field(field_name);
    if (!field) {
      std::vector<std::string> declared;
      for (const auto& f : value.type->fields) declared.push_back(f.name);
      return Error{"`" + text + "`: type `" + value.type->name + "` declares no field `" + field_name + "`" +
                   did_you_mean(field_name, declared) + " (declared: " + (declared.empty() ? "none" : join(declared)) +
                   "); add it to \"types\" with its offset"};
    }
    if (context_.field_uses)
      context_.field_uses->push_back(FieldOffsetUse{value.type->name, field_name, field->offset});
    value.type = field->type;
    value.text = text;
    if (value.in_memory) {
      value.offset += field->offset;
    } else {
      value.direct_offset += field->offset;
    }
    return value;
  }

  Result<Value> index(const Value& base, int64_t index) const {
    const std::string text = base.text + "[" + std::to_string(index) + "]";
    if (index < 0) return Error{"`" + text + "`: negative index"};
    Value value = base;
    if (value.type->kind == Kind::Pointer) {
      auto target = deref(value);
      if (!target) return target;
      value = *target;
    }
    const Kind kind = value.type->kind;
    if (kind != Kind::Slice && kind != Kind::Array)
      return Error{"`" + base.text + "` is a " + describe_type(*value.type) +
                   ": only slices and arrays can be indexed"};
    const GoTypePtr elem = value.type->elem;
    if (!elem->size_known)
      return Error{"`" + text + "`: the size of `" + elem->name + "` is unknown; declare its \"size\" in \"types\""};
    const int64_t offset = index * elem->size;
    if (kind == Kind::Slice) {
      auto loc = word_loc(value, 0, 8);  // the data pointer
      if (!loc) return Error{loc.error()};
      value.in_memory = true;
      value.addr = *loc;
      value.offset = offset;
    } else if (value.in_memory) {
      value.offset += offset;
    } else {
      value.direct_offset += static_cast<int32_t>(offset);
    }
    value.type = elem;
    value.text = text;
    return value;
  }

  Result<Value> path(const Parsed& parsed) const {
    auto value = root(parsed.root);
    if (!value) return value;
    for (const auto& selector : parsed.selectors) {
      value = selector.is_index ? index(*value, selector.index) : select_field(*value, selector.field);
      if (!value) return value;
    }
    return value;
  }

 private:
  const FieldContext& context_;
};

uint8_t scalar_width(const GoType& type) { return static_cast<uint8_t>(type.size); }

}  // namespace

Result<dwcp_field> compile_field(std::string_view expr, SlotKind kind, uint8_t slot, const FieldContext& context) {
  const std::string text = trim(expr);
  if (text.empty()) return Error{"empty expression"};
  auto tokens = tokenize(text);
  if (!tokens) return Error{"`" + text + "`: " + tokens.error()};
  auto parsed = Parser(std::move(*tokens)).parse();
  if (!parsed) return Error{"`" + text + "`: " + parsed.error()};

  Evaluator evaluator(context);
  auto value = evaluator.path(*parsed);
  if (!value) return Error{value.error()};
  const GoType& type = *value->type;

  dwcp_field field{};
  field.slot = slot;

  if (kind == SlotKind::String) {
    if (parsed->is_len || parsed->is_ptr || parsed->is_nonnil || parsed->has_add)
      return Error{"`" + text + "`: a string slot takes a plain string value, like `vmID` or `targets[0]`"};
    if (type.kind != Kind::String)
      return Error{"`" + text + "` is a " + describe_type(type) + ", but name/peer slots hold strings"};
    auto pointer = word_loc(*value, 0, 8);
    if (!pointer) return Error{pointer.error()};
    auto length = word_loc(*value, 8, 8);
    if (!length) return Error{length.error()};
    field.type = DWCP_FIELD_STRING;
    field.loc = *pointer;
    field.len_loc = *length;
    return field;
  }

  if (parsed->is_nonnil) {
    if (!type.is_nillable())
      return Error{"`" + text + "`: `" + value->text + "` is a " + describe_type(type) + ", which cannot be nil"};
    auto loc = word_loc(*value, 0, 8);  // data pointer, or the itab/type word of an interface
    if (!loc) return Error{loc.error()};
    field.type = DWCP_FIELD_NONNIL;
    field.loc = *loc;
    return field;
  }

  if (parsed->add > INT32_MAX || parsed->add < INT32_MIN)
    return Error{"`" + text + "`: the constant does not fit in 32 bits"};
  field.type = DWCP_FIELD_INT;
  field.add = static_cast<int32_t>(parsed->add);

  if (parsed->is_ptr) {
    // Only compared for equality (is a result the very slice a parameter was?): an address is
    // meaningless on its own, so no constant may be added to it.
    if (type.kind != Kind::String && type.kind != Kind::Slice)
      return Error{"`" + text + "`: ptr() needs a string or slice; `" + value->text + "` is a " + describe_type(type)};
    if (parsed->has_add) return Error{"`" + text + "`: ptr() takes no constant"};
    auto loc = word_loc(*value, 0, 8);
    if (!loc) return Error{loc.error()};
    field.loc = *loc;
    return field;
  }

  if (parsed->is_len) {
    Result<dwcp_loc> loc = Error{""};
    switch (type.kind) {
      case Kind::String:
      case Kind::Slice:
        loc = word_loc(*value, 8, 8);
        break;
      case Kind::Map:
      case Kind::Chan: {
        // Go's map header starts with its element count (hmap.count, and maps.Map.used since
        // Go 1.24's swiss maps); a channel's with qcount. A nil map reads as a failed read.
        auto pointer = word_loc(*value, 0, 8);
        if (!pointer) return Error{pointer.error()};
        Value in_header;
        in_header.type = value->type;
        in_header.text = value->text;
        in_header.in_memory = true;
        in_header.addr = *pointer;
        loc = word_loc(in_header, 0, 8);
        break;
      }
      default:
        return Error{"`" + text + "`: len() needs a string, slice, map or channel; `" + value->text + "` is a " +
                     describe_type(type)};
    }
    if (!loc) return Error{loc.error()};
    field.loc = *loc;
    return field;
  }

  // A method's receiver pointer is read as its address: an identity (the AMST session). Any other
  // pointer in an integer slot is a mistake the error below explains.
  const bool receiver_identity =
      type.kind == Kind::Pointer && value->direct != nullptr && value->direct->name == "receiver";
  switch (receiver_identity ? Kind::Int : type.kind) {
    case Kind::Bool:
    case Kind::Int: {
      auto loc = word_loc(*value, 0, receiver_identity ? 8 : scalar_width(type));
      if (!loc) return Error{loc.error()};
      field.loc = *loc;
      return field;
    }
    case Kind::Float:
    case Kind::Complex:
      if (!value->in_memory) {
        auto loc = word_loc(*value, 0, 8);  // gives the XMM error for register floats
        if (!loc) return Error{loc.error()};
      }
      return Error{"`" + text + "` is a " + describe_type(type) + ": slots hold integers, and " + kFloatError};
    case Kind::Interface:
      return Error{"`" + text + "` is an interface (two words): write `" + value->text + " != nil`"};
    case Kind::String:
    case Kind::Slice:
      return Error{"`" + text + "` is a " + describe_type(type) + ": write `len(" + value->text + ")`" +
                   (type.kind == Kind::String ? " or use it in the name/peer slot" : "")};
    case Kind::Map:
    case Kind::Chan:
      return Error{"`" + text + "` is a " + describe_type(type) + ": write `len(" + value->text + ")` or `" +
                   value->text + " != nil`"};
    default:
      return Error{"`" + text + "` is a " + describe_type(type) + ": integer slots take integers, bools, `len(x)` or" +
                   " `x != nil`; read a field of it with `" + value->text + ".field`"};
  }
}

std::string describe_loc(const dwcp_loc& loc) {
  std::string text;
  if (loc.base == DWCP_LOC_REG) {
    text = std::string("REG ") + go_int_reg_name(loc.reg);
  } else if (loc.base == DWCP_LOC_STACK) {
    text = "STACK SP+" + std::to_string(loc.stack_off);
  } else {
    return "NONE";
  }
  if (loc.nderef > 0) {
    text += " deref [";
    for (int i = 0; i < loc.nderef; ++i) text += (i ? ", " : "") + std::to_string(loc.deref[i]);
    text += "]";
  }
  return text + " width " + std::to_string(loc.width);
}

std::string describe_field(const dwcp_field& field) {
  switch (field.type) {
    case DWCP_FIELD_STRING:
      return "string ptr " + describe_loc(field.loc) + " len " + describe_loc(field.len_loc);
    case DWCP_FIELD_NONNIL:
      return "nonnil " + describe_loc(field.loc);
    default:
      return describe_loc(field.loc) +
             (field.add ? (field.add > 0 ? " + " : " - ") + std::to_string(field.add > 0 ? field.add : -field.add)
                        : std::string());
  }
}

}  // namespace dwcp::profile
