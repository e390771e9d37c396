// Struct field offsets from the DWARF of an unstripped Go binary, read with libdw. The probe
// profile needs them to follow pointers from a register to a field (e.g. the byte count inside
// a *MultiStreamTCP) without hard-coding offsets that change with every struct edit.
// Binaries built with -ldflags=-w (or -s -w) carry no DWARF: open() then says so.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dwcp_observer/result.h"

namespace dwcp::goelf {

struct DwarfMember {
  uint64_t offset = 0;
  std::string type_name;  // DWARF name of the member's type ("int64", "*net.TCPConn", ...)
};

class DwarfTypes {
 public:
  // Indexes every named struct type of the binary. Fails when the file has no DWARF, when the
  // DWARF cannot be read, or when the agent was built without libdw.
  static Result<DwarfTypes> open(const std::string& path);

  // Byte offset of a field in a struct type, by Go's DWARF names:
  //   field_offset("example.com/x/transport.MultiStreamTCP", "chunks")
  // A dotted field path ("conn.fd") walks through embedded/inline struct members (not through
  // pointers: a pointer is a dereference, which the probe spec expresses separately).
  Result<uint64_t> field_offset(std::string_view type, std::string_view field_path) const;

  size_t struct_count() const { return structs_.size(); }

 private:
  DwarfTypes() = default;
  // struct name -> member name -> member
  std::unordered_map<std::string, std::unordered_map<std::string, DwarfMember>> structs_;
};

}  // namespace dwcp::goelf
