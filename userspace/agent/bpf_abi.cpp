#include "agent/bpf_abi.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <string_view>

#include "dwcp_observer/events.h"

namespace dwcp::agent {
namespace {

constexpr std::string_view kVariable = "dwcp_abi_version";

// libbpf names the map of an object's .rodata section "<object name prefix>.rodata".
bpf_map* rodata_map(bpf_object* object) {
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, object) {
    const std::string_view name = bpf_map__name(map);
    if (bpf_map__is_internal(map) && name.size() >= 7 && name.substr(name.size() - 7) == ".rodata") return map;
  }
  return nullptr;
}

}  // namespace

std::optional<std::uint32_t> bpf_object_abi_version(bpf_object* object) {
  bpf_map* map = rodata_map(object);
  const btf* types = bpf_object__btf(object);
  if (map == nullptr || types == nullptr) return std::nullopt;
  std::size_t size = 0;
  const auto* image = static_cast<const unsigned char*>(bpf_map__initial_value(map, &size));
  const int section = btf__find_by_name_kind(types, ".rodata", BTF_KIND_DATASEC);
  if (image == nullptr || section < 0) return std::nullopt;
  const btf_type* datasec = btf__type_by_id(types, section);
  const btf_var_secinfo* vars = btf_var_secinfos(datasec);
  for (int i = 0; i < btf_vlen(datasec); ++i) {
    const btf_type* var = btf__type_by_id(types, vars[i].type);
    if (var == nullptr || btf__name_by_offset(types, var->name_off) != kVariable) continue;
    std::uint32_t version = 0;
    if (vars[i].size != sizeof(version) || vars[i].offset + sizeof(version) > size) return std::nullopt;
    std::memcpy(&version, image + vars[i].offset, sizeof(version));
    return version;
  }
  return std::nullopt;
}

Result<void> abi_refusal(bpf_object* object) {
  const auto version = bpf_object_abi_version(object);
  if (!version)
    return Error{"the BPF object carries no contract version (" + std::string(kVariable) +
                     "): it was not built from this tree's bpf/observer.bpf.c",
                 0, ErrorKind::kBpf};
  if (*version != DWCP_ABI_VERSION)
    return Error{"the BPF object was built against contract version " + std::to_string(*version) +
                     " (include/dwcp_observer/events.h, DWCP_ABI_VERSION) and this agent against version " +
                     std::to_string(DWCP_ABI_VERSION) + ": build the agent and its BPF object from one tree",
                 0, ErrorKind::kBpf};
  return {};
}

}  // namespace dwcp::agent
