// Reader for Go's build information (`go version -m`): the .go.buildinfo blob the linker writes
// into every Go binary since 1.13. Two layouts:
//   Go 1.18+: flags bit 1 (value 2) set, the version and module-info strings follow the 32-byte
//             header inline, each prefixed by its length as a uvarint.
//   older:    two pointers to Go string headers (data pointer, length), read through the
//             binary's memory image.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dwcp_observer/result.h"
#include "goelf/bytes.h"

namespace dwcp::goelf {

// A `dep` line of the module info, with the `=>` line that may follow it.
struct ModuleDep {
  std::string path, version;                  // as required: "github.com/x/y", "v1.4.2"
  std::string replace_path, replace_version;  // `=> ../local (devel)` or `=> other/mod v1.5.0`; "" if none
};

struct BuildInfo {
  std::string go_version;    // "go1.19.8"
  std::string main_path;     // the `path` line: main package path
  std::string main_module;   // the `mod` line's module path
  std::string main_version;  // the `mod` line's version, "(devel)" for local builds
  std::vector<ModuleDep> deps;
  std::string vcs_revision;   // build vcs.revision=
  std::string vcs_time;       // build vcs.time=
  bool vcs_modified = false;  // build vcs.modified=true
  // Every `build key=value` line, in order (-compiler, GOARCH, CGO_ENABLED, -ldflags, ...).
  std::vector<std::pair<std::string, std::string>> settings;
};

// Reads `length` bytes at a virtual address of the binary, or nothing when they are not there.
using MemoryReader = std::function<std::optional<ByteView>(uint64_t vaddr, uint64_t length)>;

// Parses a .go.buildinfo blob. memory is used only by the pre-1.18 pointer layout.
Result<BuildInfo> parse_buildinfo(ByteView blob, const MemoryReader& memory);

// Parses the module-info text (path/mod/dep/build lines) into info. Unknown lines are ignored:
// new toolchains add lines, and they must not make us refuse a binary.
void parse_modinfo(std::string_view modinfo, BuildInfo& info);

// The version of the module that provides `package` (the main module, or the dependency whose
// path is the longest prefix of it), as a human would name the code built: a dependency
// replaced by another module version gives that version; one replaced by a local directory
// gives the version it requires (the placeholder v0.0.0-00010101000000-000000000000 counts as
// none). "" when no module provides the package or it has no version; "(devel)" for a main
// module built from a checkout without a version stamp.
std::string module_version_of(const BuildInfo& info, std::string_view package);

}  // namespace dwcp::goelf
