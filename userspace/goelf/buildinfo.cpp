#include "goelf/buildinfo.h"

#include <cstring>

namespace dwcp::goelf {

namespace {

constexpr char kMagic[] = "\xff Go buildinf:";
constexpr size_t kMagicLength = sizeof(kMagic) - 1;  // 14
constexpr size_t kHeaderSize = 32;
constexpr uint8_t kFlagBigEndian = 1;
constexpr uint8_t kFlagInlineStrings = 2;
constexpr uint64_t kMaxStringLength = 1 << 20;  // a module list, not a megabyte-plus of anything

// Go's binary.Uvarint: 7 bits a byte, low first, at most 10 bytes.
std::optional<uint64_t> read_uvarint(ByteView bytes, uint64_t& offset) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    auto byte = bytes.u8(offset++);
    if (!byte) return std::nullopt;
    if (shift == 63 && *byte > 1) return std::nullopt;  // overflow
    value |= uint64_t{*byte & 0x7fu} << shift;
    if ((*byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> read_inline_string(ByteView bytes, uint64_t& offset) {
  auto length = read_uvarint(bytes, offset);
  if (!length || *length > kMaxStringLength) return std::nullopt;
  auto text = bytes.sub(offset, *length);
  if (!text) return std::nullopt;
  offset += *length;
  return text->as_string_view();
}

// A Go string header (data pointer, length) at vaddr, resolved through memory.
std::optional<std::string_view> read_string_header(const MemoryReader& memory, uint64_t vaddr) {
  auto header = memory(vaddr, 16);
  if (!header) return std::nullopt;
  const uint64_t data = *header->u64(0);
  const uint64_t length = *header->u64(8);
  if (length == 0) return std::string_view();
  if (length > kMaxStringLength) return std::nullopt;
  auto text = memory(data, length);
  if (!text) return std::nullopt;
  return text->as_string_view();
}

// The module info is framed by 16-byte sentinels; the byte before the trailing one is '\n'.
std::string_view strip_sentinels(std::string_view modinfo) {
  if (modinfo.size() >= 33 && modinfo[modinfo.size() - 17] == '\n') {
    return modinfo.substr(16, modinfo.size() - 32);
  }
  return {};
}

}  // namespace

Result<BuildInfo> parse_buildinfo(ByteView blob, const MemoryReader& memory) {
  if (blob.size() < kHeaderSize || std::memcmp(blob.data(), kMagic, kMagicLength) != 0) {
    return Error{"no Go build info: .go.buildinfo lacks the \"\\xff Go buildinf:\" magic"};
  }
  const uint8_t pointer_size = blob.data()[14];
  const uint8_t flags = blob.data()[15];
  BuildInfo info;
  std::string_view version;
  std::string_view modinfo;
  if (flags & kFlagInlineStrings) {
    uint64_t offset = kHeaderSize;
    auto v = read_inline_string(blob, offset);
    auto m = v ? read_inline_string(blob, offset) : std::nullopt;
    if (!v || !m) return Error{"corrupt Go build info: inline strings run past the section"};
    version = *v;
    modinfo = *m;
  } else {
    if (pointer_size != 8 || (flags & kFlagBigEndian)) {
      return Error{"Go build info is not from a 64-bit little-endian binary"};
    }
    auto v = read_string_header(memory, *blob.u64(16));
    auto m = v ? read_string_header(memory, *blob.u64(24)) : std::nullopt;
    if (!v || !m) return Error{"corrupt Go build info: string pointers lead outside the binary"};
    version = *v;
    modinfo = *m;
  }
  if (version.empty()) return Error{"corrupt Go build info: empty Go version"};
  info.go_version = std::string(version);
  parse_modinfo(strip_sentinels(modinfo), info);
  return info;
}

void parse_modinfo(std::string_view modinfo, BuildInfo& info) {
  while (!modinfo.empty()) {
    const size_t newline = modinfo.find('\n');
    std::string_view line = modinfo.substr(0, newline);
    modinfo = newline == std::string_view::npos ? std::string_view() : modinfo.substr(newline + 1);

    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, tab);
    const std::string_view rest = line.substr(tab + 1);
    if (key == "path") {
      info.main_path = std::string(rest);
    } else if (key == "mod" || key == "dep" || key == "=>") {
      // <key> <path> <version> <sum>; "=>" replaces the dep just before it.
      const size_t t1 = rest.find('\t');
      const std::string path(rest.substr(0, t1));
      const std::string_view after_path = t1 == std::string_view::npos ? std::string_view() : rest.substr(t1 + 1);
      const std::string version(after_path.substr(0, after_path.find('\t')));
      if (key == "mod") {
        if (t1 == std::string_view::npos) continue;
        info.main_module = path;
        info.main_version = version;
      } else if (key == "dep") {
        info.deps.push_back(ModuleDep{path, version, "", ""});
      } else if (!info.deps.empty() && info.deps.back().replace_path.empty()) {
        info.deps.back().replace_path = path;
        info.deps.back().replace_version = version;
      }
    } else if (key == "build") {
      const size_t equals = rest.find('=');
      if (equals == std::string_view::npos) continue;
      std::string name(rest.substr(0, equals));
      std::string value(rest.substr(equals + 1));
      // Go quotes values that contain spaces etc. (strconv.Quote); keep them as written, minus
      // the quotes for the simple case.
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (name == "vcs.revision") info.vcs_revision = value;
      if (name == "vcs.time") info.vcs_time = value;
      if (name == "vcs.modified") info.vcs_modified = value == "true";
      info.settings.emplace_back(std::move(name), std::move(value));
    }
  }
}

namespace {

bool provides(std::string_view module, std::string_view package) {
  return !module.empty() && package.substr(0, module.size()) == module &&
         (package.size() == module.size() || package[module.size()] == '/');
}

}  // namespace

std::string module_version_of(const BuildInfo& info, std::string_view package) {
  const ModuleDep* best = nullptr;
  for (const ModuleDep& dep : info.deps) {
    if (provides(dep.path, package) && (best == nullptr || dep.path.size() > best->path.size())) best = &dep;
  }
  // The main module provides the package only if no (longer) dependency path does.
  if (provides(info.main_module, package) && (best == nullptr || best->path.size() <= info.main_module.size()))
    return info.main_version;
  if (best == nullptr) return "";
  const bool local = best->replace_version.empty() || best->replace_version == "(devel)";
  if (!best->replace_path.empty() && !local) return best->replace_version;
  if (best->version == "v0.0.0-00010101000000-000000000000") return "";
  return best->version;
}

}  // namespace dwcp::goelf
