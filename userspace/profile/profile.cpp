#include "profile/profile.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "profile/field_expr.h"
#include "profile/go_abi.h"
#include "profile/go_types.h"
#include "profile/profile_json.h"

#ifndef DWCP_DEFAULT_PROFILE
#define DWCP_DEFAULT_PROFILE "/usr/share/dwcp-observer/probes/novacron-dwcp.json"
#endif

namespace dwcp::profile {
namespace {

using namespace json;

struct SlotInfo {
  const char* name;
  SlotKind kind;
  uint8_t slot;
};
// The slot names come from the contract (dwcp_observer/contract.h); this says which phase may use them.
constexpr SlotInfo int_slot(dwcp_slot slot) { return {contract::kSlotNames[slot], SlotKind::Int, uint8_t(slot)}; }
constexpr SlotInfo str_slot(uint8_t slot) { return {contract::kStringSlotNames[slot], SlotKind::String, slot}; }
constexpr SlotInfo kEntrySlots[] = {
    int_slot(DWCP_SLOT_ID),
    int_slot(DWCP_SLOT_BYTES),
    int_slot(DWCP_SLOT_COUNT),
    int_slot(DWCP_SLOT_ENTRY_AUX),
    str_slot(DWCP_STR_NAME),
    str_slot(DWCP_STR_PEER),
    {contract::kSessionSlotName, SlotKind::Int, DWCP_SLOT_SESSION},  // same slot as aux: AMST's *MultiStreamTCP
    {contract::kObjectSlotName, SlotKind::Int, DWCP_SLOT_OBJECT},    // same slot: a DeltaEncoder
};
constexpr SlotInfo kExitSlots[] = {
    int_slot(DWCP_SLOT_ERR),         int_slot(DWCP_SLOT_RESULT_BYTES), int_slot(DWCP_SLOT_RESULT_AUX),
    int_slot(DWCP_SLOT_RESULT_FLAG), str_slot(DWCP_STR_NAME),          str_slot(DWCP_STR_PEER),
};

template <size_t N>
const SlotInfo* find_slot(const SlotInfo (&slots)[N], std::string_view name) {
  for (const auto& slot : slots) {
    if (name == slot.name) return &slot;
  }
  return nullptr;
}

template <size_t N>
std::vector<std::string> slot_names(const SlotInfo (&slots)[N]) {
  std::vector<std::string> names;
  for (const auto& slot : slots) names.emplace_back(slot.name);
  return names;
}

std::string slot_name(const dwcp_field& field, bool exit) {
  const SlotInfo* begin = exit ? kExitSlots : kEntrySlots;
  const size_t count = exit ? std::size(kExitSlots) : std::size(kEntrySlots);
  for (size_t i = 0; i < count; ++i) {
    const bool is_string = begin[i].kind == SlotKind::String;
    if (is_string == (field.type == DWCP_FIELD_STRING) && begin[i].slot == field.slot) return begin[i].name;
  }
  return "?";
}

// ---- probes ------------------------------------------------------------------------------------

Result<dwcp_probe_spec> compile_phase(const Json& block, const std::string& path, Phase phase, const AbiAssignment& abi,
                                      const TypeTable& types, uint16_t probe_id, dwcp_event_kind kind,
                                      std::set<uint8_t>& string_slots_used, std::vector<FieldOffsetUse>& field_uses) {
  dwcp_probe_spec spec;
  std::memset(&spec, 0, sizeof spec);
  spec.kind = static_cast<__u16>(kind);
  spec.probe_id = probe_id;
  if (!block.is_object())
    return wrong_type(path, "an object mapping slot names to expressions, e.g. {\"bytes\": \"len(data)\"}", block);
  if (block.size() > DWCP_MAX_FIELDS)
    return Error{path + ": " + std::to_string(block.size()) + " fields, but a phase reads at most " +
                 std::to_string(DWCP_MAX_FIELDS) + " (DWCP_MAX_FIELDS); drop some"};
  const bool exit = phase == Phase::Exit;
  const FieldContext context{abi, types, phase, &field_uses};
  for (const auto& [key, value] : block.items()) {
    const std::string field_path = child(path, key);
    const SlotInfo* slot = exit ? find_slot(kExitSlots, key) : find_slot(kEntrySlots, key);
    if (!slot) {
      if (!exit && find_slot(kExitSlots, key))
        return Error{field_path + ": `" + key + "` is an exit slot (a result); move it to \"exit\""};
      if (exit && find_slot(kEntrySlots, key))
        return Error{field_path + ": `" + key + "` is an entry slot (an argument); move it to \"entry\""};
      const auto names = exit ? slot_names(kExitSlots) : slot_names(kEntrySlots);
      return Error{field_path + ": unknown field `" + key + "`" + did_you_mean(key, names) + "; " +
                   (exit ? "exit" : "entry") + " fields are: " + join(names)};
    }
    if (!value.is_string()) return wrong_type(field_path, "an expression string like \"len(data)\"", value);
    auto field = compile_field(value.get<std::string>(), slot->kind, slot->slot, context);
    if (!field) return Error{field_path + ": " + field.error()};
    if (slot->kind == SlotKind::String && !string_slots_used.insert(slot->slot).second)
      return Error{field_path + ": the `" + key +
                   "` string slot is already read in the other phase; an event"
                   " holds one `" +
                   key + "`"};
    spec.fields[spec.nfields++] = *field;
  }
  return spec;
}

Result<CompiledProbe> compile_probe(const Json& probe, const std::string& path, uint16_t probe_id,
                                    const std::string& package, const TypeTable& types, Arch arch) {
  if (!probe.is_object()) return wrong_type(path, "an object describing one function", probe);
  if (auto ok =
          check_keys(probe, path,
                     {"function", "event", "feature", "optional", "description", "params", "results", "entry", "exit"});
      !ok)
    return Error{ok.error()};
  if (auto ok = require_keys(probe, path, {"function", "event"}); !ok) return Error{ok.error()};

  CompiledProbe compiled;
  compiled.probe_id = probe_id;
  auto function = nonempty_string_member(probe, path, "function");
  if (!function) return Error{function.error()};
  compiled.function = trim(*function);
  auto name = parse_function_name(compiled.function, package);
  if (!name) return Error{child(path, "function") + ": " + name.error()};
  compiled.symbol = name->symbol;

  auto event = string_member(probe, path, "event");
  if (!event) return Error{event.error()};
  auto kind = event_kind_from_name(*event);
  if (!kind) {
    std::vector<std::string> names;
    for (auto it = std::begin(contract::kEventKinds) + 1; it != std::end(contract::kEventKinds); ++it)
      names.push_back(it->name);
    return Error{child(path, "event") + ": unknown event `" + *event + "`" + did_you_mean(*event, names) +
                 "; events are: " + join(names)};
  }
  compiled.event = *event;
  compiled.kind = *kind;

  auto feature = string_member(probe, path, "feature");
  if (!feature) return Error{feature.error()};
  compiled.feature = feature->empty() ? contract::event_kind_info(*kind).feature : *feature;
  if (!is_simple_name(compiled.feature, ""))
    return Error{child(path, "feature") + ": `" + compiled.feature +
                 "` is not a feature name (lower-case letters, digits, '_')"};

  if (probe.contains("optional")) {
    const Json& optional = probe.at("optional");
    if (!optional.is_boolean()) return wrong_type(child(path, "optional"), "true or false", optional);
    compiled.optional = optional.get<bool>();
  }
  if (auto description = string_member(probe, path, "description"); !description) return Error{description.error()};

  GoSignature signature;
  signature.receiver = name->receiver;
  auto params = string_member(probe, path, "params");
  if (!params) return Error{params.error()};
  auto results = string_member(probe, path, "results");
  if (!results) return Error{results.error()};
  signature.params = *params;
  signature.results = *results;
  auto abi = assign_go_abi(signature, types, name->scope, arch);
  if (!abi) {
    // The ABI names the part ("params: ...", "results: ...", "receiver: ..."); receiver types come
    // from the function name.
    const std::string& message = abi.error();
    const std::string where = message.rfind("receiver", 0) == 0 ? child(path, "function") + ": " : path + ".";
    return Error{where + message};
  }

  std::set<uint8_t> string_slots_used;
  std::vector<FieldOffsetUse> field_uses;
  compiled.has_exit = probe.contains("exit");
  static const Json kEmpty = Json::object();
  const Json& entry_block = probe.contains("entry") ? probe.at("entry") : kEmpty;
  auto entry = compile_phase(entry_block, child(path, "entry"), Phase::Entry, *abi, types, probe_id, *kind,
                             string_slots_used, field_uses);
  if (!entry) return Error{entry.error()};
  compiled.entry = *entry;
  compiled.entry.phase = compiled.has_exit ? DWCP_PHASE_ENTRY : DWCP_PHASE_ENTRY_ONLY;
  if (compiled.has_exit) {
    auto exit = compile_phase(probe.at("exit"), child(path, "exit"), Phase::Exit, *abi, types, probe_id, *kind,
                              string_slots_used, field_uses);
    if (!exit) return Error{exit.error()};
    compiled.exit = *exit;
    compiled.exit.phase = DWCP_PHASE_EXIT;
  }
  // Each field once, in first-read order, under its full Go name (the DWARF name).
  for (auto& use : field_uses) {
    use.go_type = qualified_type_name(use.go_type, package, types.root_scope());
    if (std::find(compiled.field_offsets.begin(), compiled.field_offsets.end(), use) == compiled.field_offsets.end())
      compiled.field_offsets.push_back(use);
  }
  return compiled;
}

// The session layout, when "types" declares every field it needs; a declared field of the wrong
// kind is an error (a silent wrong read is worse than none).
Result<std::optional<SessionLayout>> session_layout(const TypeTable& types, const std::string& package) {
  auto session = types.resolve("transport.MultiStreamTCP", "");
  auto stream = types.resolve("transport.StreamConn", "");
  if (!session || !stream || (*session)->kind != GoType::Kind::Struct || (*stream)->kind != GoType::Kind::Struct)
    return std::optional<SessionLayout>{};
  SessionLayout layout;
  struct Need {
    const GoTypePtr& type;
    const char* key;
    const char* field;
    GoType::Kind kind;
    std::size_t size;
    int32_t* out;
    bool optional;
  };
  const Need needs[] = {
      {*session, "transport.MultiStreamTCP", "streams", GoType::Kind::Slice, 24, &layout.streams_off, false},
      {*session, "transport.MultiStreamTCP", "numStreams", GoType::Kind::Int, 8, &layout.num_streams_off, false},
      {*stream, "transport.StreamConn", "streamID", GoType::Kind::Int, 8, &layout.stream_id_off, false},
      {*stream, "transport.StreamConn", "bytesSent", GoType::Kind::Int, 8, &layout.sent_off, false},
      {*stream, "transport.StreamConn", "bytesRecv", GoType::Kind::Int, 8, &layout.recv_off, false},
      {*session, "transport.MultiStreamTCP", "activeStreams", GoType::Kind::Int, 4, &layout.active_off, true},
      {*session, "transport.MultiStreamTCP", "started", GoType::Kind::Bool, 1, &layout.started_off, true},
      {*stream, "transport.StreamConn", "reconnects", GoType::Kind::Int, 4, &layout.reconnects_off, true},
  };
  for (const Need& need : needs) {
    const GoField* field = need.type->field(need.field);
    if (!field && need.optional) continue;
    if (!field) return std::optional<SessionLayout>{};
    if (field->type->kind != need.kind ||
        (need.kind != GoType::Kind::Slice && field->type->size != static_cast<std::int64_t>(need.size))) {
      const std::string want = need.kind == GoType::Kind::Slice  ? "a slice"
                               : need.kind == GoType::Kind::Bool ? "a bool"
                                                                 : "a " + std::to_string(need.size) + "-byte integer";
      return Error{std::string("types.") + need.key + ".fields." + need.field + ": the session layout needs " + want +
                   " here (DWCP reads it as one)"};
    }
    *need.out = field->offset;
    layout.field_offsets.push_back(
        {qualified_type_name(need.key, package, types.root_scope()), need.field, field->offset});
  }
  return std::optional<SessionLayout>{std::move(layout)};
}

// The DeltaEncoder's own totals, when "types" declares them (all four, or the agent counts Encode
// events instead).
Result<std::optional<EncoderLayout>> encoder_layout(const TypeTable& types, const std::string& package) {
  auto encoder = types.resolve("compression.DeltaEncoder", "");
  if (!encoder || (*encoder)->kind != GoType::Kind::Struct) return std::optional<EncoderLayout>{};
  EncoderLayout layout;
  struct Need {
    const char* field;
    GoType::Kind kind;
    int32_t* out;
  };
  const Need needs[] = {{"baselineStates", GoType::Kind::Map, &layout.baselines_off},
                        {"totalEncoded", GoType::Kind::Int, &layout.encoded_off},
                        {"totalDecoded", GoType::Kind::Int, &layout.decoded_off},
                        {"deltaHits", GoType::Kind::Int, &layout.hits_off}};
  for (const Need& need : needs) {
    const GoField* field = (*encoder)->field(need.field);
    if (!field) return std::optional<EncoderLayout>{};
    if (field->type->kind != need.kind || field->type->size != 8)
      return Error{std::string("types.compression.DeltaEncoder.fields.") + need.field + ": DWCP keeps " +
                   (need.kind == GoType::Kind::Map ? "a map" : "an 8-byte counter") + " here"};
    *need.out = field->offset;
    layout.field_offsets.push_back(
        {qualified_type_name("compression.DeltaEncoder", package, types.root_scope()), need.field, field->offset});
  }
  return std::optional<EncoderLayout>{std::move(layout)};
}

Result<Profile> compile_profile(const Json& root, Arch arch) {
  if (!root.is_object()) return wrong_type("(top level)", "a JSON object {\"schema\": 1, ...}", root);
  if (auto ok = check_keys(root, "", {"schema", "name", "description", "package", "types", "probes"}); !ok)
    return Error{ok.error()};
  if (auto ok = require_keys(root, "", {"schema", "name", "package", "probes"}); !ok) return Error{ok.error()};

  const Json& schema = root.at("schema");
  if (!schema.is_number_integer()) return wrong_type("schema", "the integer 1", schema);
  if (schema.get<int64_t>() != kProfileSchemaVersion)
    return Error{"schema: version " + std::to_string(schema.get<int64_t>()) + " is not supported; this build reads " +
                 std::to_string(kProfileSchemaVersion)};

  Profile profile;
  auto name = nonempty_string_member(root, "", "name");
  if (!name) return Error{name.error()};
  if (!is_simple_name(*name, "-.ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return Error{"name: `" + *name + "` is not a profile name (letters, digits, '-', '_', '.')"};
  profile.name = *name;
  auto description = string_member(root, "", "description");
  if (!description) return Error{description.error()};
  profile.description = *description;
  auto package = nonempty_string_member(root, "", "package");
  if (!package) return Error{package.error()};
  profile.package = trim(*package);
  for (char c : profile.package) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')')
      return Error{"package: `" + profile.package + "` is not a Go import path"};
  }
  if (profile.package.back() == '/' || profile.package.back() == '.')
    return Error{"package: `" + profile.package + "` must not end in '/' or '.'"};

  std::map<std::string, TypeDecl> decls;
  if (root.contains("types")) {
    auto read = read_types(root.at("types"));
    if (!read) return Error{read.error()};
    decls = std::move(*read);
  }
  const std::string root_scope = profile.package.substr(profile.package.rfind('/') + 1);
  auto types = TypeTable::build(decls, root_scope);
  if (!types) return Error{types.error()};

  const Json& probes = root.at("probes");
  if (!probes.is_array()) return wrong_type("probes", "an array of probes", probes);
  if (probes.empty()) return Error{"probes: the profile has no probes; add at least one"};
  if (probes.size() > static_cast<size_t>(kMaxProfileProbes))
    return Error{"probes: " + std::to_string(probes.size()) + " probes, but a profile holds at most " +
                 std::to_string(kMaxProfileProbes) + " (DWCP_MAX_PROBES " + std::to_string(DWCP_MAX_PROBES) +
                 ", and the last probe id is reserved for socket loss counters); split the profile or drop some"};

  std::map<std::string, size_t> seen_symbols;
  for (size_t i = 0; i < probes.size(); ++i) {
    const std::string path = item("probes", i);
    auto probe = compile_probe(probes[i], path, static_cast<uint16_t>(i), profile.package, *types, arch);
    if (!probe) return Error{probe.error()};
    if (auto [it, inserted] = seen_symbols.emplace(probe->symbol, i); !inserted)
      return Error{child(path, "function") + ": `" + probe->function + "` is already probed by " +
                   item("probes", it->second) + "; merge the two into one probe"};
    profile.probes.push_back(std::move(*probe));
  }
  auto layout = session_layout(*types, profile.package);
  if (!layout) return Error{layout.error()};
  profile.session_layout = std::move(*layout);
  auto encoder = encoder_layout(*types, profile.package);
  if (!encoder) return Error{encoder.error()};
  profile.encoder_layout = std::move(*encoder);
  return profile;
}

// nlohmann's message minus its "[json.exception...] parse error at line L, column C: " prefix.
std::string parse_error_reason(const std::string& what) {
  const size_t column = what.find("column ");
  if (column == std::string::npos) return what;
  const size_t colon = what.find(": ", column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

}  // namespace

Result<Profile> parse_profile(std::string_view json_text, std::string_view source_name, Arch arch) {
  const std::string source(source_name);
  if (trim(json_text).empty())
    return Error{source +
                 ": the profile is empty; expected a JSON object like {\"schema\": 1, \"name\": ..., "
                 "\"package\": ..., \"probes\": [...]}"};
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::parse_error& error) {
    // error.byte is the 1-based offset of the character where parsing stopped.
    size_t line = 1;
    size_t column = 1;
    const size_t stop = std::min<size_t>(error.byte > 0 ? error.byte - 1 : 0, json_text.size());
    for (size_t i = 0; i < stop; ++i) {
      if (json_text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return Error{source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                 ": invalid JSON: " + parse_error_reason(error.what())};
  } catch (const Json::exception& error) {
    // Valid syntax the library cannot hold, e.g. a number out of double's range (found by fuzz_profile).
    return Error{source + ": invalid JSON: " + error.what()};
  }
  auto profile = compile_profile(root, arch);
  if (!profile) return Error{source + ": " + profile.error()};
  return profile;
}

Result<Profile> load_profile(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return Error{"cannot read profile `" + path + "`: " + std::strerror(errno) + "; check the path"};
  if (S_ISDIR(info.st_mode)) return Error{"cannot read profile `" + path + "`: it is a directory; name a .json file"};
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error{"cannot read profile `" + path + "`: " + std::strerror(errno) + "; check its permissions"};
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return Error{"cannot read profile `" + path + "`: read error"};
  return parse_profile(text.str(), path);
}

std::string default_profile_path() { return DWCP_DEFAULT_PROFILE; }

std::string describe_probe(const CompiledProbe& probe) {
  std::string text = "#" + std::to_string(probe.probe_id) + " " + probe.event + " [" + probe.feature + "]" +
                     (probe.optional ? " (optional)" : "") + "\n  " + probe.symbol + "\n";
  auto phase = [&](const char* label, const dwcp_probe_spec& spec, bool exit) {
    text += std::string("  ") + label + ":";
    if (spec.nfields == 0) text += " (no fields)";
    for (int i = 0; i < spec.nfields; ++i)
      text +=
          std::string(i ? ";" : "") + " " + slot_name(spec.fields[i], exit) + " = " + describe_field(spec.fields[i]);
    text += "\n";
  };
  phase(probe.has_exit ? "entry" : "entry (only)", probe.entry, false);
  if (probe.has_exit) phase("exit ", probe.exit, true);
  return text;
}

}  // namespace dwcp::profile
