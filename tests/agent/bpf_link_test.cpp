// Link (agent/uprobe_attach.h) owns a kernel link and, on kernels without attach cookies, the site's
// entry in the {tgid, address} -> spec map: the entry must go with the link, also through a move
// assignment (it once stayed behind, and the moved-from object's destructor deleted the entry of a
// live uprobe). Needs CAP_BPF for the map; skipped (77) without it, failed under CI=true.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/uprobe_attach.h"

namespace dwcp::agent {
namespace {

struct SpecMap {
  int fd = -1;
  SpecMap() { fd = bpf_map_create(BPF_MAP_TYPE_HASH, "link_test", sizeof(dwcp_spec_addr_key), 4, 8, nullptr); }
  ~SpecMap() {
    if (fd >= 0) close(fd);
  }
  bool has(const dwcp_spec_addr_key& key) const {
    std::uint32_t value = 0;
    return bpf_map_lookup_elem(fd, &key, &value) == 0;
  }
  void put(const dwcp_spec_addr_key& key) const {
    const std::uint32_t value = 7;
    ASSERT_EQ(bpf_map_update_elem(fd, &key, &value, BPF_ANY), 0);
  }
};

TEST(BpfLink, TheSpecEntryMovesWithTheLink) {
  SpecMap map;
  if (map.fd < 0) GTEST_SKIP() << "cannot create a BPF map (CAP_BPF needed)";
  const dwcp_spec_addr_key key{42, 0, 0x401000};
  map.put(key);
  Link moved;
  {
    Link owner = Link::from_fd(eventfd(0, EFD_CLOEXEC)).with_spec_entry(map.fd, key);
    moved = std::move(owner);
  }  // the moved-from owner is destroyed here
  EXPECT_TRUE(map.has(key)) << "the moved-from link deleted the live link's spec entry";
  moved.reset();
  EXPECT_FALSE(map.has(key)) << "the link's detach leaves its spec entry";
}

}  // namespace
}  // namespace dwcp::agent
