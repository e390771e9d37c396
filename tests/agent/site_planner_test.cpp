// The site planner (agent/site_planner.h): the default profile against the Go fixtures, read from
// disk. No process, no kernel: what would be attached, and why not.
#include "agent/site_planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "child_process.h"

#include "dwcp_observer/contract.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {
namespace {

using test_support::fixture;

profile::Profile default_profile() {
  auto loaded = profile::load_profile(profile::default_profile_path());
  EXPECT_TRUE(loaded) << loaded.error();
  return loaded ? std::move(loaded.value()) : profile::Profile{};
}

const char* state_of(const SitePlan& plan, const std::string& probe) {
  for (const auto& [name, state] : plan.states)
    if (name == probe) return state;
  return "none";
}

std::size_t sites_with(const SitePlan& plan, std::uint32_t spec_index) {
  return static_cast<std::size_t>(std::count_if(plan.sites.begin(), plan.sites.end(),
                                                [&](const UprobeSite& s) { return s.spec_index == spec_index; }));
}

class SitePlanner : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(binary) << binary.error();
    ASSERT_TRUE(dwarf) << dwarf.error();
    ASSERT_FALSE(profile.probes.empty());
  }
  const profile::CompiledProbe& probe(const char* event) const {
    for (const auto& p : profile.probes)
      if (p.event == event) return p;
    ADD_FAILURE() << "no probe " << event;
    return profile.probes.front();
  }
  profile::Profile profile = default_profile();
  Result<goelf::GoBinary> binary = goelf::GoBinary::open(fixture("dwcp-fixture"));
  Result<goelf::DwarfTypes> dwarf = goelf::DwarfTypes::open(fixture("dwcp-fixture"));
};

TEST_F(SitePlanner, EveryProbeIsPlacedAtItsEntryAndEachRet) {
  SitePlan plan = plan_sites(profile, *binary, &*dwarf, {});
  EXPECT_TRUE(plan.holds_package);
  EXPECT_TRUE(plan.refused.empty()) << plan.refused.front();
  ASSERT_EQ(plan.states.size(), profile.probes.size());
  std::size_t expected_sites = 0;
  for (const auto& p : profile.probes) {
    SCOPED_TRACE(p.event);
    if (std::string(state_of(plan, p.event)) == "absent") continue;
    EXPECT_STREQ(state_of(plan, p.event), "attached");
    EXPECT_TRUE(plan.live_features.count(p.feature));
    auto fn = binary->find_function(p.symbol);
    ASSERT_TRUE(fn) << fn.error();
    // One entry site, under the probe's entry spec, on the branch of the stack check at the
    // function's top (every probed DWCP function calls others, so each has one): the kernel
    // emulates it instead of single-stepping the entry's CMP.
    ASSERT_EQ(sites_with(plan, contract::entry_spec_index(p.probe_id)), 1u);
    const std::uint64_t entry = std::find_if(plan.sites.begin(), plan.sites.end(), [&](const UprobeSite& s) {
                                  return s.spec_index == contract::entry_spec_index(p.probe_id);
                                })->offset;
    EXPECT_EQ(entry, binary->entry_probe_offset(*fn));
    EXPECT_GT(entry, fn->file_offset);
    EXPECT_LE(entry, fn->file_offset + 12);
    std::size_t rets = 0;
    if (p.has_exit) {
      auto found = binary->ret_offsets(*fn);
      ASSERT_TRUE(found) << found.error();
      rets = found->size();
      EXPECT_GE(rets, 1u);
    }
    EXPECT_EQ(sites_with(plan, contract::exit_spec_index(p.probe_id)), rets);
    expected_sites += 1 + rets;
  }
  EXPECT_EQ(plan.sites.size(), expected_sites);
  // The fixture reproduces DWCP's AMST transport: its probes are all there.
  for (const char* amst : {"session_start", "stream_open", "send", "receive", "session_close"})
    EXPECT_STREQ(state_of(plan, amst), "attached") << amst;
}

TEST_F(SitePlanner, DemotedProbesGetNoSiteAndNoState) {
  const auto& send = probe("send");
  SitePlan plan = plan_sites(profile, *binary, &*dwarf, {send.probe_id});
  EXPECT_EQ(sites_with(plan, contract::entry_spec_index(send.probe_id)), 0u);
  EXPECT_EQ(sites_with(plan, contract::exit_spec_index(send.probe_id)), 0u);
  EXPECT_STREQ(state_of(plan, "send"), "none");
  EXPECT_STREQ(state_of(plan, "receive"), "attached");
  EXPECT_EQ(plan.states.size(), profile.probes.size() - 1);
}

TEST_F(SitePlanner, AFieldOffsetTheDwarfContradictsRefusesThatProbeOnly) {
  auto with_offsets = std::find_if(profile.probes.begin(), profile.probes.end(),
                                   [](const profile::CompiledProbe& p) { return !p.field_offsets.empty(); });
  ASSERT_NE(with_offsets, profile.probes.end());
  const std::string event = with_offsets->event;
  with_offsets->field_offsets.front().offset += 8;
  SitePlan plan = plan_sites(profile, *binary, &*dwarf, {});
  EXPECT_STREQ(state_of(plan, event), "refused");
  ASSERT_EQ(plan.refused.size(), 1u);
  EXPECT_NE(plan.refused.front().find("correct its \"types\" entry"), std::string::npos) << plan.refused.front();
  EXPECT_EQ(sites_with(plan, contract::entry_spec_index(with_offsets->probe_id)), 0u);
  // Without DWARF (a stripped build) the profile's offsets stand.
  SitePlan trusting = plan_sites(profile, *binary, nullptr, {});
  EXPECT_STREQ(state_of(trusting, event), "attached");
}

// Attaching before the DWARF is read (Agent::attach_loaded): the probes that read no struct
// field go in first; the DWARF check afterwards refuses what plan_sites with the DWARF refuses.
TEST_F(SitePlanner, TheDwarfCheckAfterwardsRefusesWhatItRefusesUpFront) {
  auto with_offsets = std::find_if(profile.probes.begin(), profile.probes.end(),
                                   [](const profile::CompiledProbe& p) { return !p.field_offsets.empty(); });
  ASSERT_NE(with_offsets, profile.probes.end());
  with_offsets->field_offsets.front().offset += 8;
  SitePlan later = plan_sites(profile, *binary, nullptr, {});
  const SitesByDwarf split = split_field_readers(profile, later.sites);
  EXPECT_EQ(split.independent.size() + split.field_readers.size(), later.sites.size());
  for (const auto& site : split.independent) EXPECT_TRUE(profile.probes[site.spec_index / 2].field_offsets.empty());
  for (const auto& site : split.field_readers) EXPECT_FALSE(profile.probes[site.spec_index / 2].field_offsets.empty());
  // What counts a transfer from its first byte reads no field: it is never held back.
  for (const char* amst : {"session_start", "stream_open", "send", "receive"})
    EXPECT_TRUE(probe(amst).field_offsets.empty()) << amst;

  refuse_dwarf_conflicts(&later, profile, *dwarf);
  SitePlan up_front = plan_sites(profile, *binary, &*dwarf, {});
  EXPECT_EQ(later.states, up_front.states);
  EXPECT_EQ(later.refused, up_front.refused);
  EXPECT_EQ(later.live_features, up_front.live_features);
  ASSERT_EQ(later.sites.size(), up_front.sites.size());
  for (std::size_t i = 0; i < later.sites.size(); ++i) {
    EXPECT_EQ(later.sites[i].offset, up_front.sites[i].offset);
    EXPECT_EQ(later.sites[i].spec_index, up_front.sites[i].spec_index);
  }
  EXPECT_STREQ(state_of(later, with_offsets->event.c_str()), "refused");
}

TEST_F(SitePlanner, ABinaryWithoutThePackageHoldsNothing) {
  auto other = goelf::GoBinary::open(fixture("not-dwcp"));
  ASSERT_TRUE(other) << other.error();
  SitePlan plan = plan_sites(profile, *other, nullptr, {});
  EXPECT_FALSE(plan.holds_package);
  EXPECT_TRUE(plan.sites.empty());
  EXPECT_EQ(plan.absent.size(), profile.probes.size());
}

TEST_F(SitePlanner, AStrippedBuildIsPlacedTheSame) {
  auto stripped = goelf::GoBinary::open(fixture("dwcp-fixture-stripped"));
  ASSERT_TRUE(stripped) << stripped.error();
  SitePlan full = plan_sites(profile, *binary, &*dwarf, {});
  SitePlan plan = plan_sites(profile, *stripped, nullptr, {});
  EXPECT_EQ(plan.states, full.states);
  EXPECT_EQ(plan.sites.size(), full.sites.size());
}

// On kernels whose plan refuses per-chunk probes (7.x, docs/kernels.md) the debug profile keeps
// every other probe; with the refusal off, the chunk probes are placed like the rest.
TEST_F(SitePlanner, PerChunkProbesAreRefusedOnlyWhenTheKernelPlanSaysSo) {
  const std::string path = profile::default_profile_path();
  auto chunks = profile::load_profile(path.substr(0, path.rfind('/') + 1) + "novacron-dwcp-chunks.json");
  ASSERT_TRUE(chunks) << chunks.error();
  SitePlan allowed = plan_sites(*chunks, *binary, &*dwarf, {}, false);
  SitePlan refused = plan_sites(*chunks, *binary, &*dwarf, {}, true);
  for (const char* event : {"send_chunk", "receive_chunk"}) {
    EXPECT_STREQ(state_of(allowed, event), "attached") << event;
    EXPECT_STREQ(state_of(refused, event), "refused") << event;
  }
  ASSERT_EQ(refused.refused.size(), 2u);
  EXPECT_NE(refused.refused.front().find("refused on this kernel"), std::string::npos) << refused.refused.front();
  std::size_t others = 0;
  for (const auto& [event, state] : refused.states) others += std::string(state) == "attached";
  EXPECT_EQ(others, chunks->probes.size() - 2);
  EXPECT_LT(refused.sites.size(), allowed.sites.size());
}

}  // namespace
}  // namespace dwcp::agent
