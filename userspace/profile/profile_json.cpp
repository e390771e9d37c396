#include "profile/profile_json.h"

#include <cctype>

namespace dwcp::profile::json {

std::string child(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
std::string quoted_key(const std::string& path, const std::string& key) { return path + "[\"" + key + "\"]"; }
std::string item(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

std::string json_type(const Json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  return "null";
}

Error wrong_type(const std::string& path, const char* wanted, const Json& value) {
  return Error{path + ": expected " + std::string(wanted) + ", got " + json_type(value)};
}

Result<Ok> check_keys(const Json& object, const std::string& path, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const auto& name : allowed) known = known || key == name;
    if (!known) {
      const std::string where = path.empty() ? "top level" : path;
      return Error{child(path, key) + ": unknown key `" + key + "` in " + where + did_you_mean(key, allowed) +
                   "; the keys allowed here are: " + join(allowed)};
    }
  }
  return Ok{};
}

Result<Ok> require_keys(const Json& object, const std::string& path, const std::vector<std::string>& required) {
  for (const auto& key : required) {
    if (!object.contains(key)) {
      const std::string where = path.empty() ? "the top level" : path;
      return Error{child(path, key) + ": missing required key `" + key + "` in " + where};
    }
  }
  return Ok{};
}

Result<std::string> string_member(const Json& object, const std::string& path, const char* key) {
  if (!object.contains(key)) return std::string();
  const Json& value = object.at(key);
  if (!value.is_string()) return wrong_type(child(path, key), "a string", value);
  return value.get<std::string>();
}

Result<std::string> nonempty_string_member(const Json& object, const std::string& path, const char* key) {
  auto text = string_member(object, path, key);
  if (!text) return text;
  if (trim(*text).empty()) return Error{child(path, key) + ": must not be empty"};
  return text;
}

bool is_simple_name(std::string_view text, std::string_view extra_chars) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || extra_chars.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_go_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// ---- "types" -----------------------------------------------------------------------------------

Result<std::map<std::string, TypeDecl>> read_types(const Json& types) {
  std::map<std::string, TypeDecl> decls;
  const std::string path = "types";
  if (!types.is_object()) return wrong_type(path, "an object of type declarations", types);
  for (const auto& [key, value] : types.items()) {
    const std::string where = quoted_key(path, key);
    const std::string scope = type_key_scope(key);
    const std::string base = key.substr(scope.empty() ? 0 : scope.size() + 1);
    if (!is_go_identifier(base) || (!scope.empty() && !is_go_identifier(scope)))
      return Error{where + ": `" + key + "` is not a type name; write `Name` or `pkg.Name`"};
    TypeDecl decl;
    if (value.is_string()) {
      decl.alias = trim(value.get<std::string>());
      if (decl.alias.empty()) return Error{where + ": empty type; write e.g. \"int\" or \"interface\""};
    } else if (value.is_object()) {
      if (auto ok = check_keys(value, where, {"kind", "size", "fields", "description"}); !ok) return Error{ok.error()};
      if (auto ok = require_keys(value, where, {"kind", "fields"}); !ok) return Error{ok.error()};
      if (value.at("kind") != "struct")
        return Error{where +
                     ".kind: only \"struct\" is supported in the object form; declare other types as a"
                     " string (\"int\", \"interface\", \"pointer\", \"[]byte\", ...)"};
      decl.is_struct = true;
      if (value.contains("size")) {
        const Json& size = value.at("size");
        if (!size.is_number_integer() || size.get<int64_t>() < 0)
          return wrong_type(where + ".size", "a non-negative integer (bytes)", size);
        decl.size = size.get<int64_t>();
      }
      const Json& fields = value.at("fields");
      if (!fields.is_object()) return wrong_type(where + ".fields", "an object of fields", fields);
      for (const auto& [field_name, field] : fields.items()) {
        const std::string field_path = where + ".fields." + field_name;
        if (!field.is_object()) return wrong_type(field_path, "an object {\"offset\": N, \"type\": \"T\"}", field);
        if (auto ok = check_keys(field, field_path, {"offset", "type"}); !ok) return Error{ok.error()};
        if (auto ok = require_keys(field, field_path, {"offset", "type"}); !ok) return Error{ok.error()};
        const Json& offset = field.at("offset");
        if (!offset.is_number_integer() || offset.get<int64_t>() < 0)
          return wrong_type(field_path + ".offset", "a non-negative integer (bytes from the struct start)", offset);
        if (!field.at("type").is_string()) return wrong_type(field_path + ".type", "a string", field.at("type"));
        decl.fields.push_back({field_name, offset.get<int64_t>(), field.at("type").get<std::string>()});
      }
    } else {
      return wrong_type(where, "a string (\"int\", \"interface\", ...) or a struct object", value);
    }
    decls[key] = decl;
  }
  return decls;
}

// ---- function names ----------------------------------------------------------------------------

Result<FunctionName> parse_function_name(const std::string& function, const std::string& package) {
  const std::string usage =
      "; write `Func`, `(*Type).Method` or `(Type).Method` for the package itself, "
      "`sub.Func`, `sub.(*Type).Method` or `sub.Type.Method` for a subpackage";
  for (char c : function) {
    if (std::isspace(static_cast<unsigned char>(c))) return Error{"`" + function + "` contains a space" + usage};
    if (c == '[') return Error{"`" + function + "`: generic functions are not supported"};
  }
  std::vector<std::string> parts;
  int depth = 0;
  std::string current;
  for (char c : function) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == '.' && depth == 0) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  for (const auto& part : parts) {
    if (part.empty() || depth != 0) return Error{"`" + function + "` is not a Go function name" + usage};
  }
  const std::string root_scope = package.substr(package.rfind('/') + 1);

  auto receiver_of = [](const std::string& part) -> std::string {
    if (part.front() == '(' && part.back() == ')') return part.substr(1, part.size() - 2);
    return part;
  };
  // Go spells pointer receivers `(*T)` and value receivers plain `T` in symbols.
  auto symbol_receiver = [](const std::string& receiver) -> std::string {
    return receiver[0] == '*' ? "(" + receiver + ")" : receiver;
  };

  FunctionName name;
  const bool root_method = parts[0].front() == '(';
  if (parts.size() == 1 || root_method) {
    if (root_method && parts.size() != 2) return Error{"`" + function + "` is not a Go function name" + usage};
    name.scope = root_scope;
    if (root_method) {
      name.receiver = receiver_of(parts[0]);
      name.symbol = package + "." + symbol_receiver(name.receiver) + "." + parts[1];
    } else {
      name.symbol = package + "." + function;
    }
  } else {
    if (parts.size() > 3)
      return Error{"`" + function + "` has too many parts (closures like `.func1` cannot be probed by name)" + usage};
    const std::string& subpackage = parts[0];
    name.scope = subpackage.substr(subpackage.rfind('/') + 1);
    if (parts.size() == 3) {
      name.receiver = receiver_of(parts[1]);
      name.symbol = package + "/" + subpackage + "." + symbol_receiver(name.receiver) + "." + parts[2];
    } else {
      name.symbol = package + "/" + function;
    }
  }
  if (!name.receiver.empty() && !is_go_identifier(name.receiver[0] == '*' ? name.receiver.substr(1) : name.receiver))
    return Error{"`" + function + "`: cannot read the receiver type `" + name.receiver + "`" + usage};
  if (!is_go_identifier(parts.back()))
    return Error{"`" + function + "`: `" + parts.back() + "` is not a function name" + usage};
  return name;
}

}  // namespace dwcp::profile::json
