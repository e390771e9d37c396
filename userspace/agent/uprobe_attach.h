// How uprobes are attached, for every caller that attaches them (the BPF session's sites, the
// trap calibration's empty probe): one uprobe_multi link for all of a process's sites where the
// kernel has them (6.6+), else one classic perf-event uprobe per site, with the fallback between
// the two written once. Also the one kernel attachment type, Link, and their parallel detach.
// Programs come in as descriptors: the session's are the skeleton's, the calibration's its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dwcp_observer/events.h"
#include "dwcp_observer/fd.h"
#include "dwcp_observer/result.h"

struct bpf_link;

namespace dwcp::agent {

// One attachment: a libbpf link (tracepoints, fexit), a uprobe_multi link, or a classic uprobe
// (its perf event, and the BPF link over it where the kernel takes a cookie). Detached when
// destroyed; move-only.
class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* link) : libbpf_(link) {}
  // `link`: a BPF link fd (uprobe_multi or perf-event link) or a perf event fd with the program
  // set on it; `perf_event`: the perf event behind a perf-event link (empty otherwise).
  explicit Link(Fd link, Fd perf_event = Fd()) : fd_(std::move(link)), perf_event_(std::move(perf_event)) {}
  static Link from_fd(int fd) { return Link(Fd(fd)); }
  // Also removes the site's entry from the {tgid, address} -> spec map when detached (kernels
  // without attach cookies).
  Link with_spec_entry(int map_fd, const dwcp_spec_addr_key& key) && {
    spec_map_fd_ = map_fd;
    spec_key_ = key;
    return std::move(*this);
  }
  Link(Link&& other) noexcept { *this = std::move(other); }
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }
  void reset();
  explicit operator bool() const { return libbpf_ != nullptr || fd_; }
  bool has_spec_entry() const { return spec_map_fd_ >= 0; }

 private:
  bpf_link* libbpf_ = nullptr;
  Fd fd_;
  Fd perf_event_;
  int spec_map_fd_ = -1;  // not owned: the session's map outlives every link
  dwcp_spec_addr_key spec_key_{};
};

// Detaches every link and empties the vector. Links are detached concurrently: detaching a classic
// uprobe waits for an RCU grace period, one per site in turn otherwise (106 sites took 12.8 s on a
// 6.1 guest under emulation; a uprobe_multi link waits once).
void detach_links(std::vector<Link>* links);

// One uprobe site of a target: file offset in the binary and the spec it runs.
struct UprobeSite {
  std::uint64_t offset;
  std::uint32_t spec_index;
};

// The programs a caller attaches at uprobe sites. A program for uprobe_multi links is loaded with
// that expected attach type, so it is another program than the classic one.
struct UprobePrograms {
  int multi = -1;        // -1: do not try uprobe_multi (the plan says the kernel has none)
  int classic = -1;      // run by one perf-event uprobe per site
  bool cookies = false;  // each site's spec_index travels as its attach cookie (5.15+)
};

struct AttachedUprobes {
  std::vector<Link> links;
  bool multi = false;          // one uprobe_multi link
  bool multi_refused = false;  // tried, and this kernel cannot link uprobe_multi: do not try again
};

// Uprobes on every site in `binary`, in process `pid` only: one uprobe_multi link when
// programs.multi is set and the kernel links it, else one classic uprobe per site. All or nothing:
// on failure nothing stays attached and the error names the site.
Result<AttachedUprobes> attach_uprobes(const UprobePrograms& programs, int pid, const std::string& binary,
                                       const std::vector<UprobeSite>& sites);

// No attach cookies (before 5.15): each site's spec index goes into the {tgid, address} map
// `spec_map_fd` before its classic uprobe (running `program`) is attached; the link removes the
// entry again when it is detached. The address comes from the process's /proc/PID/maps.
Result<std::vector<Link>> attach_uprobes_by_address(int program, int spec_map_fd, int pid, const std::string& binary,
                                                    const std::vector<UprobeSite>& sites);

}  // namespace dwcp::agent
