#include "goelf/dwarf_types.h"

#ifdef DWCP_GOELF_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "goelf/dwarf_limits.h"
#include "goelf/elf_image.h"
#endif

#include <cerrno>
#include <cstring>

namespace dwcp::goelf {

#ifdef DWCP_GOELF_HAVE_LIBDW

namespace {

// Owns the file descriptor and the libdw session over it.
class DwarfSession {
 public:
  explicit DwarfSession(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  void begin() { dwarf_ = dwarf_begin(fd_, DWARF_C_READ); }
  ~DwarfSession() {
    if (dwarf_ != nullptr) dwarf_end(dwarf_);
    if (fd_ >= 0) ::close(fd_);
  }
  DwarfSession(const DwarfSession&) = delete;
  DwarfSession& operator=(const DwarfSession&) = delete;
  int fd() const { return fd_; }
  Dwarf* get() const { return dwarf_; }

 private:
  int fd_ = -1;
  Dwarf* dwarf_ = nullptr;
};

std::string type_name_of(Dwarf_Die* die) {
  Dwarf_Attribute attribute;
  Dwarf_Die type;
  if (dwarf_attr(die, DW_AT_type, &attribute) == nullptr || dwarf_formref_die(&attribute, &type) == nullptr) return "";
  const char* name = dwarf_diename(&type);
  return name != nullptr ? name : "";
}

// DW_AT_data_member_location: Go writes a constant; DWARF also allows DW_OP_plus_uconst.
bool member_offset(Dwarf_Die* member, uint64_t& offset) {
  Dwarf_Attribute attribute;
  if (dwarf_attr(member, DW_AT_data_member_location, &attribute) == nullptr) return false;
  Dwarf_Word value;
  if (dwarf_formudata(&attribute, &value) == 0) {
    offset = value;
    return true;
  }
  Dwarf_Op* ops;
  size_t count;
  if (dwarf_getlocation(&attribute, &ops, &count) == 0 && count == 1 && ops[0].atom == DW_OP_plus_uconst) {
    offset = ops[0].number;
    return true;
  }
  return false;
}

}  // namespace

Result<DwarfTypes> DwarfTypes::open(const std::string& path) {
  DwarfSession session(path);
  if (session.fd() < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  // libdw inflates compressed sections when the session begins: their declared sizes first.
  struct stat info {};
  if (::fstat(session.fd(), &info) != 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  if (!S_ISREG(info.st_mode) || static_cast<uint64_t>(info.st_size) > (uint64_t{4} << 30))
    return Error{path + " is not a regular file of at most 4 GiB: DWARF not read"};
  {
    auto bytes = FileBytes::map(session.fd(), static_cast<uint64_t>(info.st_size), path);
    if (!bytes) return Error{bytes.error()};
    auto elf = ElfImage::parse(std::move(bytes).value());
    if (!elf) return Error{path + ": " + elf.error()};
    auto inflated = declared_inflated_size(*elf);
    if (!inflated) return Error{path + ": " + inflated.error()};
  }
  session.begin();
  if (session.get() == nullptr) {
    return Error{path + " has no readable DWARF (" + dwarf_errmsg(-1) +
                 "): struct offsets need a binary built without -ldflags=-w"};
  }
  DwarfTypes types;
  Dwarf_Off offset = 0, next = 0;
  size_t header_size = 0;
  while (dwarf_nextcu(session.get(), offset, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(session.get(), offset + header_size, &cu) != nullptr) {
      Dwarf_Die child;
      // Go puts type DIEs directly under the compile unit.
      if (dwarf_child(&cu, &child) == 0) {
        do {
          if (dwarf_tag(&child) != DW_TAG_structure_type) continue;
          const char* name = dwarf_diename(&child);
          if (name == nullptr || types.structs_.count(name)) continue;
          auto& members = types.structs_[name];
          Dwarf_Die member;
          if (dwarf_child(&child, &member) != 0) continue;
          do {
            if (dwarf_tag(&member) != DW_TAG_member) continue;
            const char* member_name = dwarf_diename(&member);
            uint64_t member_at = 0;
            if (member_name == nullptr || !member_offset(&member, member_at)) continue;
            members[member_name] = DwarfMember{member_at, type_name_of(&member)};
          } while (dwarf_siblingof(&member, &member) == 0);
        } while (dwarf_siblingof(&child, &child) == 0);
      }
    }
    offset = next;
  }
  if (types.structs_.empty()) return Error{path + ": DWARF has no struct types"};
  return types;
}

#else  // !DWCP_GOELF_HAVE_LIBDW

Result<DwarfTypes> DwarfTypes::open(const std::string& path) {
  return Error{"cannot read DWARF of " + path + ": this build has no libdw (install libdw-dev and rebuild)"};
}

#endif

Result<uint64_t> DwarfTypes::field_offset(std::string_view type, std::string_view field_path) const {
  std::string current(type);
  uint64_t total = 0;
  while (true) {
    auto found = structs_.find(current);
    if (found == structs_.end()) return Error{"no struct type named " + current + " in the DWARF"};
    const size_t dot = field_path.find('.');
    const std::string field(field_path.substr(0, dot));
    auto member = found->second.find(field);
    if (member == found->second.end()) return Error{"struct " + current + " has no field " + field};
    total += member->second.offset;
    if (dot == std::string_view::npos) return total;
    field_path.remove_prefix(dot + 1);
    current = member->second.type_name;
    if (!current.empty() && current[0] == '*') {
      return Error{"field " + field + " of " + found->first + " is a pointer (" + current +
                   "): a dereference, not an offset; split the path there"};
    }
  }
}

}  // namespace dwcp::goelf
