// Reading a profile's JSON: paths for error messages, typed members with messages that say what
// was expected, the "types" section, and the Go function names probes are written with. The
// compilation of probes (profile.cpp) is built on these.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "profile/go_types.h"

namespace dwcp::profile::json {

// Insertion order kept, so fields compile in the order the profile lists them.
using Json = nlohmann::ordered_json;

// "probes[3].entry" + "bytes" -> "probes[3].entry.bytes"; quoted_key: path["key"]; item: path[i].
std::string child(const std::string& path, const std::string& key);
std::string quoted_key(const std::string& path, const std::string& key);
std::string item(const std::string& path, size_t index);

std::string json_type(const Json& value);  // "an integer", "a string", ...
Error wrong_type(const std::string& path, const char* wanted, const Json& value);
// Every key of `object` is one of `allowed` (else: did you mean ...); every `required` key is there.
Result<Ok> check_keys(const Json& object, const std::string& path, const std::vector<std::string>& allowed);
Result<Ok> require_keys(const Json& object, const std::string& path, const std::vector<std::string>& required);
// Optional string member (empty string when absent).
Result<std::string> string_member(const Json& object, const std::string& path, const char* key);
Result<std::string> nonempty_string_member(const Json& object, const std::string& path, const char* key);

// Lower-case letters, digits, '_' and `extra_chars`.
bool is_simple_name(std::string_view text, std::string_view extra_chars);
bool is_go_identifier(std::string_view text);

// The "types" section: type name -> declaration.
Result<std::map<std::string, TypeDecl>> read_types(const Json& types);

struct FunctionName {
  std::string symbol;
  std::string receiver;  // "*MultiStreamTCP", "T", or ""
  std::string scope;     // package the signature's types are written in ("transport", "dwcp")
};

// `transport.(*MultiStreamTCP).sendChunk` -> package + "/transport.(*MultiStreamTCP).sendChunk";
// `(*HDE).CompressMemory` -> package + ".(*HDE).CompressMemory"; `(T).M` is a value-receiver method
// of the package itself (symbol "package.T.M"); `Foo` a plain function of the package itself.
Result<FunctionName> parse_function_name(const std::string& function, const std::string& package);

}  // namespace dwcp::profile::json
