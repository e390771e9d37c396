#include "agent/site_planner.h"

#include <algorithm>

#include "agent/kernel_features.h"
#include "dwcp_observer/contract.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {

Result<void> field_offset_conflict(const std::vector<profile::FieldOffsetUse>& uses, const goelf::DwarfTypes& dwarf) {
  for (const auto& use : uses) {
    auto offset = dwarf.field_offset(use.go_type, use.field);
    if (!offset || static_cast<int64_t>(*offset) == use.offset) continue;
    // "github.com/.../transport.StreamConn" -> "transport.StreamConn", as the profile spells it.
    const std::string type = use.go_type.substr(use.go_type.rfind('/') + 1);
    return Error{"field " + type + "." + use.field + " is at offset " + std::to_string(*offset) +
                     " in this binary's DWARF, the profile says " + std::to_string(use.offset) +
                     " — correct its \"types\" entry",
                 0, ErrorKind::kSymbols};
  }
  return {};
}

std::vector<std::string> drop_fields_dwarf_lacks(profile::SessionLayout* layout, const goelf::DwarfTypes& dwarf) {
  std::vector<std::string> dropped;
  if (layout->field_offsets.empty()) return dropped;
  // The full Go names of the two structs, as the layout's first uses spell them.
  std::string session_type, stream_type;
  for (const auto& use : layout->field_offsets) {
    if (use.field == "streams") session_type = use.go_type;
    if (use.field == "streamID") stream_type = use.go_type;
  }
  struct Optional {
    const std::string& type;
    const char* field;
    std::int32_t* offset;
  };
  const Optional optionals[] = {{session_type, "activeStreams", &layout->active_off},
                                {session_type, "started", &layout->started_off},
                                {stream_type, "reconnects", &layout->reconnects_off}};
  for (const Optional& o : optionals) {
    // Only where DWARF knows the struct (the required field is there) but not this field.
    const char* known = &o.type == &session_type ? "streams" : "streamID";
    if (*o.offset < 0 || !dwarf.field_offset(o.type, known) || dwarf.field_offset(o.type, o.field)) continue;
    *o.offset = -1;
    dropped.push_back(o.type.substr(o.type.rfind('/') + 1) + "." + o.field);
  }
  return dropped;
}

SitePlan plan_sites(const profile::Profile& profile, const goelf::GoBinary& binary, const goelf::DwarfTypes* dwarf,
                    const std::set<std::uint32_t>& demoted, bool refuse_per_chunk) {
  SitePlan scan;
  scan.holds_package = binary.holds_package(profile.package);
  for (const auto& probe : profile.probes) {
    if (demoted.count(probe.probe_id)) continue;  // detached by --probe-budget, for good
    auto refuse = [&](const std::string& why) {
      scan.refused.push_back(probe.function + " (" + why + ")");
      scan.states.emplace_back(probe.event, "refused");
    };
    if (refuse_per_chunk && is_per_chunk_event(probe.event)) {
      refuse(
          "a probe per chunk, refused on this kernel: a target died under per-chunk probes on 7.2, "
          "docs/kernels.md");
      continue;
    }
    auto fn = binary.find_function(probe.symbol);
    if (!fn) {
      // Named in the binary but not placeable with certainty (the name tables disagree, a name
      // shared by several functions, ...): refuse this probe with the resolver's reason and keep
      // the others. Absent altogether: a build whose program never calls it (Go's linker drops
      // unreachable functions), a state of the probe, not an error.
      if (binary.names(probe.symbol)) {
        refuse(fn.error());
      } else {
        scan.absent.push_back(probe.function);
        scan.states.emplace_back(probe.event, "absent");
      }
      continue;
    }
    std::vector<std::uint64_t> rets;
    if (probe.has_exit) {
      auto found = binary.ret_offsets(*fn);
      if (!found) {
        refuse("no return sites: " + found.error());
        continue;
      }
      rets = std::move(found.value());
    }
    // Every site is a uprobe in the target: bound them whatever the binary claims.
    if (scan.sites.size() + 1 + rets.size() > kMaxSitesPerProcess) {
      refuse("its " + std::to_string(1 + rets.size()) + " uprobe sites would exceed " +
             std::to_string(kMaxSitesPerProcess) + " per process");
      continue;
    }
    scan.sites.push_back({binary.entry_probe_offset(*fn), contract::entry_spec_index(probe.probe_id)});
    for (auto ret : rets) scan.sites.push_back({ret, contract::exit_spec_index(probe.probe_id)});
    scan.live_features.insert(probe.feature);
    scan.states.emplace_back(probe.event, "attached");
  }
  if (dwarf) refuse_dwarf_conflicts(&scan, profile, *dwarf);
  return scan;
}

void refuse_dwarf_conflicts(SitePlan* plan, const profile::Profile& profile, const goelf::DwarfTypes& dwarf) {
  std::set<std::uint32_t> refused;
  for (const auto& probe : profile.probes) {
    if (probe.field_offsets.empty()) continue;
    if (auto agrees = field_offset_conflict(probe.field_offsets, dwarf); !agrees) {
      const bool planned = std::any_of(plan->sites.begin(), plan->sites.end(), [&](const UprobeSite& site) {
        return contract::probe_of_spec(site.spec_index) == probe.probe_id;
      });
      if (!planned) continue;  // absent, refused already, or demoted
      refused.insert(probe.probe_id);
      plan->refused.push_back(probe.function + " (" + agrees.error() + ")");
      for (auto& [event, state] : plan->states)
        if (event == probe.event) state = "refused";
    }
  }
  if (refused.empty()) return;
  plan->sites.erase(std::remove_if(plan->sites.begin(), plan->sites.end(),
                                   [&](const UprobeSite& site) {
                                     return refused.count(contract::probe_of_spec(site.spec_index)) != 0;
                                   }),
                    plan->sites.end());
  plan->live_features.clear();
  for (const auto& site : plan->sites)
    if (contract::probe_of_spec(site.spec_index) < profile.probes.size())
      plan->live_features.insert(profile.probes[contract::probe_of_spec(site.spec_index)].feature);
}

SitesByDwarf split_field_readers(const profile::Profile& profile, const std::vector<UprobeSite>& sites) {
  SitesByDwarf split;
  for (const auto& site : sites) {
    const std::uint32_t probe_id = contract::probe_of_spec(site.spec_index);
    const bool reads_fields = probe_id < profile.probes.size() && !profile.probes[probe_id].field_offsets.empty();
    (reads_fields ? split.field_readers : split.independent).push_back(site);
  }
  return split;
}

}  // namespace dwcp::agent
