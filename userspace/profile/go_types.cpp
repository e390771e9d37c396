#include "profile/go_types.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

namespace dwcp::profile {
namespace {

// Alias chains and structs holding structs by value nest; a cycle would recurse forever.
constexpr int kMaxTypeDepth = 32;

std::shared_ptr<GoType> make_scalar(GoType::Kind kind, std::string name, int64_t size) {
  auto type = std::make_shared<GoType>();
  type->kind = kind;
  type->name = std::move(name);
  type->size = size;
  type->align = size > 8 ? 8 : (size == 0 ? 1 : size);
  return type;
}

std::shared_ptr<GoType> make_word(GoType::Kind kind, std::string name, int64_t words) {
  auto type = std::make_shared<GoType>();
  type->kind = kind;
  type->name = std::move(name);
  type->size = 8 * words;
  type->align = 8;
  return type;
}

// Go's predeclared types (amd64 sizes) and the two every Go program has from its stdlib.
GoTypePtr builtin(std::string_view name) {
  using K = GoType::Kind;
  const std::string n(name);
  if (name == "bool") return make_scalar(K::Bool, n, 1);
  if (name == "int8" || name == "uint8" || name == "byte") return make_scalar(K::Int, n, 1);
  if (name == "int16" || name == "uint16") return make_scalar(K::Int, n, 2);
  if (name == "int32" || name == "uint32" || name == "rune") return make_scalar(K::Int, n, 4);
  if (name == "int64" || name == "uint64" || name == "int" || name == "uint" || name == "uintptr")
    return make_scalar(K::Int, n, 8);
  if (name == "float32") return make_scalar(K::Float, n, 4);
  if (name == "float64") return make_scalar(K::Float, n, 8);
  if (name == "complex64") {
    auto type = make_scalar(K::Complex, n, 8);
    type->align = 4;
    return type;
  }
  if (name == "complex128") return make_scalar(K::Complex, n, 16);
  if (name == "string") return make_word(K::String, n, 2);
  if (name == "error" || name == "any") return make_word(K::Interface, n, 2);
  if (name == "unsafe.Pointer") return make_word(K::Pointer, n, 1);
  return nullptr;
}

bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Position of the bracket closing the one at `open`, or npos.
size_t matching_close(std::string_view text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

Error type_error(std::string_view expr, const std::string& why) {
  return Error{"type `" + std::string(expr) + "`: " + why};
}

}  // namespace

const GoField* GoType::field(std::string_view field_name) const {
  for (const auto& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

bool GoType::is_nillable() const {
  switch (kind) {
    case Kind::Pointer:
    case Kind::Slice:
    case Kind::Map:
    case Kind::Chan:
    case Kind::Func:
    case Kind::Interface:
      return true;
    default:
      return false;
  }
}

std::string trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

namespace {
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same =
          std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(word, candidate);
    if (!best || distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  // Close enough to be a typo: at most a third of the word wrong.
  if (!best || *best == word || best_distance > std::max<size_t>(1, word.size() / 3)) return "";
  return " (did you mean `" + *best + "`?)";
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

std::string type_key_scope(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? std::string() : std::string(key.substr(0, dot));
}

std::string qualified_type_name(std::string_view key, std::string_view package, std::string_view root_scope) {
  const std::string scope = type_key_scope(key);
  const std::string_view name = key.substr(scope.empty() ? 0 : scope.size() + 1);
  if (scope.empty() || scope == root_scope) return std::string(package) + "." + std::string(name);
  return std::string(package) + "/" + std::string(key);
}

std::vector<std::string> split_top_level(std::string_view list) {
  std::vector<std::string> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    const char c = i < list.size() ? list[i] : ',';
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if ((c == ',' && depth == 0) || i == list.size()) {
      items.push_back(trim(list.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (items.size() == 1 && items[0].empty()) items.clear();
  return items;
}

Result<TypeTable> TypeTable::build(const std::map<std::string, TypeDecl>& decls, std::string root_scope) {
  TypeTable table;
  table.decls_ = decls;
  table.root_scope_ = std::move(root_scope);
  for (const auto& [key, decl] : decls) {
    auto resolved = table.resolve_decl(key, 0);
    if (!resolved) return Error{"types[\"" + key + "\"]: " + resolved.error()};
    table.resolved_[key] = *resolved;
  }
  return table;
}

Result<GoTypePtr> TypeTable::resolve(std::string_view expr, std::string_view scope) const {
  return parse(expr, scope, 0);
}

Result<GoTypePtr> TypeTable::resolve_decl(const std::string& key, int depth) const {
  if (auto it = resolved_.find(key); it != resolved_.end()) return it->second;
  if (depth > kMaxTypeDepth)
    return Error{"type definitions nest more than " + std::to_string(kMaxTypeDepth) +
                 " levels (a type that contains itself by value?)"};
  const TypeDecl& decl = decls_.at(key);
  std::string scope = type_key_scope(key);
  if (scope.empty()) scope = root_scope_;

  if (!decl.is_struct) {
    if (decl.alias == "interface") {
      auto type = make_word(GoType::Kind::Interface, key, 2);
      return GoTypePtr(type);
    }
    if (decl.alias == "pointer") {
      auto type = make_word(GoType::Kind::Pointer, key, 1);
      return GoTypePtr(type);
    }
    auto target = parse(decl.alias, scope, depth + 1);
    if (!target) return target;
    // A defined type has the layout of its underlying type, under its own name.
    auto named = std::make_shared<GoType>(**target);
    named->name = key;
    return GoTypePtr(named);
  }

  auto type = std::make_shared<GoType>();
  type->kind = GoType::Kind::Struct;
  type->name = key;
  type->size_known = decl.size >= 0;
  type->size = decl.size >= 0 ? decl.size : 0;
  type->align = 8;
  for (const auto& f : decl.fields) {
    auto field_type = parse(f.type, scope, depth + 1);
    if (!field_type) return Error{"fields." + f.name + ".type: " + field_type.error()};
    if (f.offset < 0 || f.offset > (1 << 24))
      return Error{"fields." + f.name + ".offset: " + std::to_string(f.offset) +
                   " is not a plausible field offset (0 .. 16 MiB)"};
    type->fields.push_back(GoField{f.name, static_cast<int32_t>(f.offset), *field_type});
  }
  return GoTypePtr(type);
}

Result<GoTypePtr> TypeTable::resolve_named(const std::string& name, std::string_view scope, int depth) const {
  if (auto type = builtin(name)) return type;
  std::vector<std::string> candidates;
  if (name.find('.') == std::string::npos) {
    if (!scope.empty()) candidates.push_back(std::string(scope) + "." + name);
    candidates.push_back(name);
  } else {
    candidates.push_back(name);
    // `dwcp.CompressionLevel` written for the root package may be declared unqualified.
    if (type_key_scope(name) == root_scope_) candidates.push_back(name.substr(root_scope_.size() + 1));
  }
  for (const auto& candidate : candidates) {
    if (decls_.count(candidate)) return resolve_decl(candidate, depth);
  }
  std::string tried;
  for (const auto& candidate : candidates) tried += (tried.empty() ? "" : " or ") + ("\"" + candidate + "\"");
  return Error{"unknown type `" + name + "`: declare it in \"types\" as " + tried +
               " (e.g. \"int\", \"interface\", \"pointer\", or a struct with field offsets)"};
}

Result<GoTypePtr> TypeTable::parse(std::string_view raw, std::string_view scope, int depth) const {
  const std::string text = trim(raw);
  const std::string_view expr = text;
  if (depth > kMaxTypeDepth) return type_error(expr, "nests too deep (a type defined in terms of itself?)");
  if (expr.empty()) return Error{"empty type"};
  using K = GoType::Kind;

  if (expr[0] == '*') {
    const std::string target = trim(expr.substr(1));
    if (target.empty()) return type_error(expr, "pointer to nothing");
    auto type = make_word(K::Pointer, text, 1);
    type->pointee = target;
    type->pointee_scope = std::string(scope);
    return GoTypePtr(type);
  }
  if (starts_with(expr, "...") || starts_with(expr, "[]")) {
    auto elem = parse(expr.substr(starts_with(expr, "...") ? 3 : 2), scope, depth + 1);
    if (!elem) return elem;
    auto type = make_word(K::Slice, text, 3);
    type->elem = *elem;
    return GoTypePtr(type);
  }
  if (expr[0] == '[') {
    const size_t close = expr.find(']');
    if (close == std::string_view::npos) return type_error(expr, "missing ']'");
    const std::string length_text = trim(expr.substr(1, close - 1));
    int64_t length = 0;
    try {
      size_t used = 0;
      length = std::stoll(length_text, &used);
      if (used != length_text.size() || length < 0) throw std::invalid_argument("length");
    } catch (const std::exception&) {
      return type_error(expr, "array length `" + length_text + "` is not a non-negative integer constant");
    }
    auto elem = parse(expr.substr(close + 1), scope, depth + 1);
    if (!elem) return elem;
    auto type = std::make_shared<GoType>();
    type->kind = K::Array;
    type->name = text;
    type->elem = *elem;
    type->length = length;
    type->size = length * (*elem)->size;
    type->align = (*elem)->align;
    type->size_known = (*elem)->size_known;
    return GoTypePtr(type);
  }
  if (starts_with(expr, "map[")) {
    const size_t close = matching_close(expr, 3);
    if (close == std::string_view::npos || trim(expr.substr(close + 1)).empty())
      return type_error(expr, "expected map[Key]Value");
    // Only the map header pointer is ever read (len(m)): key and value types are not resolved.
    return GoTypePtr(make_word(K::Map, text, 1));
  }
  if (starts_with(expr, "chan") || starts_with(expr, "<-")) {
    return GoTypePtr(make_word(K::Chan, text, 1));  // element type never read: not resolved
  }
  if (starts_with(expr, "func")) {
    return GoTypePtr(make_word(K::Func, text, 1));  // a func value is one pointer (to its closure)
  }
  if (starts_with(expr, "interface")) {
    if (trim(expr.substr(9)) != "{}")
      return type_error(expr, "write named interfaces by name and declare them as \"interface\"");
    return GoTypePtr(make_word(K::Interface, text, 2));
  }
  if (starts_with(expr, "struct")) {
    if (trim(expr.substr(6)) != "{}")
      return type_error(expr, "anonymous structs are not supported; declare a named struct in \"types\"");
    return GoTypePtr(make_scalar(K::Struct, text, 0));
  }
  for (char c : expr) {
    if (c == '[') return type_error(expr, "generic types are not supported");
    if (!is_ident_char(c)) return type_error(expr, "cannot parse this type expression");
  }
  if (std::isdigit(static_cast<unsigned char>(expr[0]))) return type_error(expr, "cannot parse this type expression");
  return resolve_named(text, scope, depth + 1);
}

}  // namespace dwcp::profile
