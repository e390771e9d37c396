#include "profile/go_abi.h"

#include "dwcp_observer/events.h"

#include <cctype>
#include <set>

namespace dwcp::profile {
namespace {

using Kind = GoType::Kind;

int64_t align_up(int64_t value, int64_t alignment) {
  return alignment <= 1 ? value : (value + alignment - 1) / alignment * alignment;
}

ValuePart word_part(int32_t offset, uint8_t size, bool is_float) {
  ValuePart part;
  part.offset = offset;
  part.size = size;
  part.is_float = is_float;
  return part;
}

// The register-sized pieces of a value, in the order the ABI assigns them (before any register
// or stack position is known).
Result<std::vector<ValuePart>> flatten(const GoType& type) {
  std::vector<ValuePart> parts;
  switch (type.kind) {
    case Kind::Bool:
    case Kind::Int:
      parts.push_back(word_part(0, static_cast<uint8_t>(type.size), false));
      return parts;
    case Kind::Float:
      parts.push_back(word_part(0, static_cast<uint8_t>(type.size), true));
      return parts;
    case Kind::Complex: {
      const auto half = static_cast<uint8_t>(type.size / 2);
      parts.push_back(word_part(0, half, true));
      parts.push_back(word_part(half, half, true));
      return parts;
    }
    case Kind::Pointer:
    case Kind::Map:
    case Kind::Chan:
    case Kind::Func:
    case Kind::String:
    case Kind::Slice:
    case Kind::Interface:
      for (int32_t word = 0; word < type.size / 8; ++word) parts.push_back(word_part(8 * word, 8, false));
      return parts;
    case Kind::Array:
      if (type.length == 0) return parts;
      if (type.length == 1) return flatten(*type.elem);
      return Error{"`" + type.name +
                   "` is an array passed by value, which is not supported"
                   " (only arrays of length 0 or 1); probe a function that takes a pointer or slice"};
    case Kind::Struct: {
      if (type.size_known && type.size == 0) return parts;
      const bool single_word = type.size_known && type.fields.size() == 1 && type.fields[0].offset == 0 &&
                               type.fields[0].type->is_word_scalar() && type.fields[0].type->size == type.size;
      if (single_word) return flatten(*type.fields[0].type);
      return Error{"`" + type.name +
                   "` is a struct passed by value, which is not supported (only a struct"
                   " declared with \"size\" and a single scalar field at offset 0)"};
    }
  }
  return Error{"`" + type.name + "`: unknown kind"};
}

// Assigns values in order, keeping the register counters and the stack area between them.
class Assigner {
 public:
  Assigner(int32_t stack_base, Arch arch)
      : stack_base_(stack_base), int_regs_(go_int_reg_count(arch)), float_regs_(go_float_reg_count(arch)) {}

  Result<AbiValue> assign(std::string name, GoTypePtr type) {
    auto parts = flatten(*type);
    if (!parts) return Error{parts.error()};
    AbiValue value;
    value.name = std::move(name);
    value.type = type;
    int ints = 0;
    int floats = 0;
    for (const auto& part : *parts) (part.is_float ? floats : ints)++;
    if (next_int_ + ints <= int_regs_ && next_float_ + floats <= float_regs_) {
      for (auto part : *parts) {
        part.where = part.is_float ? ValuePart::Where::FloatReg : ValuePart::Where::IntReg;
        part.reg = static_cast<uint8_t>(part.is_float ? next_float_++ : next_int_++);
        value.parts.push_back(part);
      }
      return value;
    }
    // Does not fit entirely: the whole value goes to the stack; counters stay where they were,
    // so a later, smaller argument can still take the registers that are left.
    stack_size_ = align_up(stack_size_, type->align);
    value.on_stack = true;
    value.stack_off = static_cast<int32_t>(stack_base_ + stack_size_);
    for (auto part : *parts) {
      part.where = ValuePart::Where::Stack;
      part.stack_off = value.stack_off + part.offset;
      value.parts.push_back(part);
    }
    stack_size_ += type->size;
    return value;
  }

  int32_t stack_size() const { return static_cast<int32_t>(stack_size_); }

 private:
  int32_t stack_base_;
  int int_regs_;
  int float_regs_;
  int64_t stack_size_ = 0;
  int next_int_ = 0;
  int next_float_ = 0;
};

bool is_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Type keywords that are followed by a space inside a type ("chan int", "func (x int)").
bool is_type_keyword(std::string_view word) {
  return word == "chan" || word == "func" || word == "map" || word == "struct" || word == "interface";
}

std::string strip_outer_parens(std::string_view raw) {
  std::string text = trim(raw);
  if (text.size() >= 2 && text.front() == '(') {
    int depth = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '(') ++depth;
      if (text[i] == ')' && --depth == 0) {
        if (i == text.size() - 1) return trim(std::string_view(text).substr(1, text.size() - 2));
        break;
      }
    }
  }
  return text;
}

}  // namespace

int go_int_reg_count(Arch arch) { return arch == Arch::Arm64 ? DWCP_REG_COUNT_ARM64 : DWCP_REG_COUNT_AMD64; }

int go_float_reg_count(Arch arch) { return arch == Arch::Arm64 ? 16 : 15; }

const char* go_int_reg_name(int index, Arch arch) {
  static const char* const amd64[DWCP_REG_COUNT_AMD64] = {"RAX", "RBX", "RCX", "RDI", "RSI", "R8", "R9", "R10", "R11"};
  static const char* const arm64[DWCP_REG_COUNT_ARM64] = {"R0", "R1", "R2",  "R3",  "R4",  "R5",  "R6",  "R7",
                                                          "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"};
  if (index < 0 || index >= go_int_reg_count(arch)) return "?";
  return arch == Arch::Arm64 ? arm64[index] : amd64[index];
}

Result<std::vector<GoParam>> parse_go_param_list(std::string_view list) {
  const std::string text = strip_outer_parens(list);
  int depth = 0;
  for (char c : text) {
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth < 0) break;
  }
  if (depth != 0) return Error{"unbalanced brackets in `" + text + "`"};
  std::vector<GoParam> params;
  bool any_named = false;
  for (const auto& item : split_top_level(text)) {
    if (item.empty()) return Error{"empty entry in the list `" + text + "` (a stray comma?)"};
    GoParam param;
    const size_t space = item.find_first_of(" \t");
    if (space != std::string::npos) {
      const std::string first = item.substr(0, space);
      if (is_identifier(first) && !is_type_keyword(first)) {
        param.name = first;
        param.type = trim(std::string_view(item).substr(space));
        any_named = true;
      }
    }
    if (param.name.empty()) param.type = item;
    params.push_back(param);
  }
  if (!any_named) return params;
  // Named list: a bare identifier is a name grouped with the next type ("a, b int").
  std::string pending_type;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (!it->name.empty()) {
      pending_type = it->type;
      continue;
    }
    if (!is_identifier(it->type))
      return Error{"`" + it->type + "` has no name, but other entries of `" + text +
                   "` are named: Go requires all or none to be named"};
    if (pending_type.empty()) return Error{"`" + it->type + "` in `" + text + "` has a name but no type after it"};
    it->name = it->type;
    it->type = pending_type;
  }
  std::set<std::string> seen;
  for (const auto& param : params) {
    if (param.name != "_" && !seen.insert(param.name).second)
      return Error{"`" + param.name + "` appears twice in `" + text + "`"};
  }
  return params;
}

Result<AbiAssignment> assign_go_abi(const GoSignature& signature, const TypeTable& types, std::string_view scope,
                                    Arch arch) {
  AbiAssignment abi;
  Assigner args(kGoStackArgsOffset, arch);

  const std::string receiver = trim(signature.receiver);
  if (!receiver.empty()) {
    auto type = types.resolve(receiver, scope);
    if (!type) return Error{"receiver: " + type.error()};
    auto value = args.assign("receiver", *type);
    if (!value) return Error{"receiver: " + value.error()};
    abi.receiver = std::move(*value);
  }

  auto params = parse_go_param_list(signature.params);
  if (!params) return Error{"params: " + params.error()};
  for (size_t i = 0; i < params->size(); ++i) {
    const GoParam& param = (*params)[i];
    const std::string label = "parameter " + std::to_string(i) + (param.name.empty() ? "" : " `" + param.name + "`");
    auto type = types.resolve(param.type, scope);
    if (!type) return Error{"params: " + label + ": " + type.error()};
    auto value = args.assign(param.name, *type);
    if (!value) return Error{"params: " + label + ": " + value.error()};
    abi.params.push_back(std::move(*value));
  }
  abi.stack_args_size = args.stack_size();

  auto results = parse_go_param_list(signature.results);
  if (!results) return Error{"results: " + results.error()};
  // Stack results follow the argument area, pointer-aligned. At a RET, SP is back where it was
  // at entry, so the same SP-relative offsets hold.
  Assigner rets(kGoStackArgsOffset + static_cast<int32_t>(align_up(abi.stack_args_size, 8)), arch);
  for (size_t i = 0; i < results->size(); ++i) {
    const GoParam& result = (*results)[i];
    const std::string name = "result" + std::to_string(i);
    auto type = types.resolve(result.type, scope);
    if (!type) return Error{"results: " + name + ": " + type.error()};
    auto value = rets.assign(name, *type);
    if (!value) return Error{"results: " + name + ": " + value.error()};
    value->alias = result.name;
    abi.results.push_back(std::move(*value));
  }
  abi.stack_results_size = rets.stack_size();
  return abi;
}

std::string describe_value_location(const AbiValue& value, Arch arch) {
  if (value.parts.empty()) return "(zero-sized)";
  if (value.on_stack) {
    return "SP+" + std::to_string(value.stack_off) + "..SP+" + std::to_string(value.stack_off + value.type->size);
  }
  std::string text;
  for (const auto& part : value.parts) {
    if (!text.empty()) text += "+";
    text += part.where == ValuePart::Where::FloatReg ? (arch == Arch::Arm64 ? "F" : "X") + std::to_string(part.reg)
                                                     : go_int_reg_name(part.reg, arch);
  }
  return text;
}

}  // namespace dwcp::profile
