// Where the profile's probes go in one binary: a pure function of the profile, the binary's
// symbols (and DWARF, when it has any) and the probes the budget demoted. Reads no process and
// touches no kernel: tests/agent/site_planner_test.cpp drives it with the Go fixtures.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/bpf_session.h"
#include "dwcp_observer/result.h"
#include "profile/profile.h"

namespace dwcp::goelf {
class GoBinary;
class DwarfTypes;
}  // namespace dwcp::goelf

namespace dwcp::agent {

// 63 probes of a few RETs each need a few hundred; a binary that makes us place more is refused.
constexpr std::size_t kMaxSitesPerProcess = 4096;

// The uprobe sites of the profile's probes in one binary, without those --probe-budget demoted.
struct SitePlan {
  std::vector<UprobeSite> sites;
  std::vector<std::string> refused;  // present but not probeable (no RET found, wrong offsets, ...)
  std::vector<std::string> absent;   // not in this build (its linker dropped them, or never had them)
  std::vector<std::pair<std::string, const char*>> states;  // probe label -> attached|absent|refused
  bool holds_package = false;                               // the binary has any function of the profile's package
  std::set<std::string> live_features;
};

// `dwarf`: the binary's DWARF struct layouts, nullptr when it has none (stripped); a probe whose
// profile field offsets the DWARF contradicts is refused instead of reading the wrong bytes.
// `demoted`: probe ids detached by --probe-budget, for good. `refuse_per_chunk`: the kernel's
// plan refuses per-chunk probes (KernelPlan::refuse_per_chunk_probes, docs/kernels.md).
SitePlan plan_sites(const profile::Profile& profile, const goelf::GoBinary& binary, const goelf::DwarfTypes* dwarf,
                    const std::set<std::uint32_t>& demoted, bool refuse_per_chunk = false);

// plan_sites's DWARF check on a plan made without it: the probes whose field offsets `dwarf`
// contradicts are refused and their sites leave the plan.
void refuse_dwarf_conflicts(SitePlan* plan, const profile::Profile& profile, const goelf::DwarfTypes& dwarf);

// The sites of probes that read a struct field at an offset the profile gives (the ones the
// DWARF check may refuse) and of the others, which can be attached before the DWARF is read.
struct SitesByDwarf {
  std::vector<UprobeSite> independent;
  std::vector<UprobeSite> field_readers;
};
SitesByDwarf split_field_readers(const profile::Profile& profile, const std::vector<UprobeSite>& sites);

// Ok when every field offset the probe relies on agrees with the binary's DWARF (or the DWARF
// does not describe it: then the profile stands), else why the probe would read the wrong bytes.
Result<void> field_offset_conflict(const std::vector<profile::FieldOffsetUse>& uses, const goelf::DwarfTypes& dwarf);

// The session layout's optional fields (activeStreams, started, reconnects) that a binary whose
// DWARF knows the session's struct does not have are another build's: they are not read there.
// Returns the names dropped ("transport.MultiStreamTCP.started", ...).
std::vector<std::string> drop_fields_dwarf_lacks(profile::SessionLayout* layout, const goelf::DwarfTypes& dwarf);

}  // namespace dwcp::agent
