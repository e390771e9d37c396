// The contract version check at load (userspace/agent/bpf_abi.h) on real objects: the observer's
// own, one built against another version, one without a version. Opening needs no privilege.
#include <gtest/gtest.h>

#include "abi_mismatch.skel.h"
#include "agent/bpf_abi.h"
#include "dwcp_observer/events.h"
#include "observer.skel.h"
#include "uprobe_test.skel.h"

namespace dwcp::agent {
namespace {

TEST(BpfAbi, ObserverObjectCarriesThisAgentsVersion) {
  observer* skel = observer::open();
  ASSERT_NE(skel, nullptr);
  EXPECT_EQ(bpf_object_abi_version(skel->obj), std::optional<std::uint32_t>(DWCP_ABI_VERSION));
  EXPECT_TRUE(abi_refusal(skel->obj));
  observer::destroy(skel);
}

TEST(BpfAbi, ObjectBuiltAgainstAnotherVersionIsRefused) {
  abi_mismatch* skel = abi_mismatch::open();
  ASSERT_NE(skel, nullptr);
  EXPECT_EQ(bpf_object_abi_version(skel->obj), std::optional<std::uint32_t>(DWCP_ABI_VERSION + 1));
  const auto refused = abi_refusal(skel->obj);
  ASSERT_FALSE(refused);
  const std::string& refusal = refused.error();
  EXPECT_NE(refusal.find("built against contract version " + std::to_string(DWCP_ABI_VERSION + 1)), std::string::npos)
      << refusal;
  EXPECT_NE(refusal.find("this agent against version " + std::to_string(DWCP_ABI_VERSION)), std::string::npos)
      << refusal;
  abi_mismatch::destroy(skel);
}

TEST(BpfAbi, ObjectWithoutAVersionIsRefused) {
  uprobe_test* skel = uprobe_test::open();  // has read-only data (wakeup_bytes), no version
  ASSERT_NE(skel, nullptr);
  EXPECT_EQ(bpf_object_abi_version(skel->obj), std::nullopt);
  const auto refused = abi_refusal(skel->obj);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("carries no contract version"), std::string::npos);
  uprobe_test::destroy(skel);
}

}  // namespace
}  // namespace dwcp::agent
