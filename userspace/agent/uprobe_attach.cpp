#include "agent/uprobe_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "agent/load_base.h"
#include "agent/uprobe_multi.h"
#include "dwcp_observer/text.h"

namespace dwcp::agent {

Link& Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    reset();
    libbpf_ = std::exchange(other.libbpf_, nullptr);
    fd_ = std::move(other.fd_);
    perf_event_ = std::move(other.perf_event_);
    // The spec-map entry moves with the link: left behind, the moved-from object's destructor
    // would delete the entry of a live uprobe.
    spec_map_fd_ = std::exchange(other.spec_map_fd_, -1);
    spec_key_ = other.spec_key_;
  }
  return *this;
}

void Link::reset() {
  if (libbpf_) bpf_link__destroy(std::exchange(libbpf_, nullptr));
  fd_.reset();
  perf_event_.reset();
  // After the detach: no hit can look the entry up any more.
  if (spec_map_fd_ >= 0) bpf_map_delete_elem(std::exchange(spec_map_fd_, -1), &spec_key_);
}

void detach_links(std::vector<Link>* links) {
  constexpr std::size_t kThreads = 16;
  if (links->size() > 2) {
    std::vector<std::thread> threads;
    const std::size_t n = std::min(kThreads, links->size());
    for (std::size_t t = 0; t < n; ++t)
      threads.emplace_back([links, t, n] {
        for (std::size_t i = t; i < links->size(); i += n) (*links)[i].reset();
      });
    for (auto& thread : threads) thread.join();
  }
  links->clear();
}

namespace {

// The perf event type of uprobes (the kernel's uprobe PMU), read once.
Result<int> uprobe_pmu_type() {
  static const Result<int> type = []() -> Result<int> {
    std::ifstream in("/sys/bus/event_source/devices/uprobe/type");
    int value = -1;
    if (!(in >> value))
      return Error{"cannot read /sys/bus/event_source/devices/uprobe/type: kernel without uprobe PMU", 0,
                   ErrorKind::kBpf};
    return value;
  }();
  return type;
}

// One classic uprobe at `offset` of `binary`, in process `pid` only, running `program`: a perf
// event of the uprobe PMU, and the program on it either through a perf-event BPF link carrying
// `cookie` (5.15+, as libbpf does) or, without a cookie, set on the event itself (every kernel).
Result<Link> attach_classic_uprobe(int program, int pid, const std::string& binary, std::uint64_t offset,
                                   std::optional<std::uint64_t> cookie) {
  auto what = [&] { return "cannot attach uprobe at " + binary + "+" + hex(offset); };
  auto pmu = uprobe_pmu_type();
  if (!pmu) return pmu.failure();
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = static_cast<__u32>(*pmu);
  attr.config1 = reinterpret_cast<__u64>(binary.c_str());  // uprobe_path
  attr.config2 = offset;                                   // probe_offset
  Fd event(static_cast<int>(syscall(__NR_perf_event_open, &attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC)));
  if (!event) return Error::system(what(), errno, ErrorKind::kBpf);
  Fd link;
  if (cookie) {
    LIBBPF_OPTS(bpf_link_create_opts, opts);
    opts.perf_event.bpf_cookie = *cookie;
    link.reset(bpf_link_create(program, event.get(), BPF_PERF_EVENT, &opts));
    if (!link) return Error::system(what(), errno, ErrorKind::kBpf);
  } else if (ioctl(event.get(), PERF_EVENT_IOC_SET_BPF, program) != 0) {
    return Error::system(what(), errno, ErrorKind::kBpf);
  }
  if (ioctl(event.get(), PERF_EVENT_IOC_ENABLE, 0) != 0) return Error::system(what(), errno, ErrorKind::kBpf);
  return link ? Link(std::move(link), std::move(event)) : Link(std::move(event));
}

}  // namespace

Result<AttachedUprobes> attach_uprobes(const UprobePrograms& programs, int pid, const std::string& binary,
                                       const std::vector<UprobeSite>& sites) {
  AttachedUprobes out;
  if (sites.empty()) return out;
  if (programs.multi >= 0) {
    std::vector<std::uint64_t> offsets, cookies;
    for (const auto& site : sites) {
      offsets.push_back(site.offset);
      if (programs.cookies) cookies.push_back(site.spec_index);
    }
    Fd link(create_uprobe_multi_link(programs.multi, pid, binary, offsets, cookies));
    if (link) {
      out.links.emplace_back(std::move(link));
      out.multi = true;
      return out;
    }
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
      return Error::system("cannot attach " + std::to_string(sites.size()) + " uprobes to " + binary, errno,
                           ErrorKind::kBpf);
    out.multi_refused = true;  // this kernel loads the program but cannot link it: classic path
  }
  for (const auto& site : sites) {
    auto link = attach_classic_uprobe(programs.classic, pid, binary, site.offset,
                                      programs.cookies ? std::optional<std::uint64_t>(site.spec_index) : std::nullopt);
    if (!link) return link.failure();  // those attached so far are detached with `out`
    out.links.push_back(std::move(link).value());
  }
  return out;
}

Result<std::vector<Link>> attach_uprobes_by_address(int program, int spec_map_fd, int pid, const std::string& binary,
                                                    const std::vector<UprobeSite>& sites) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream maps_file(proc + "/maps");
  std::stringstream text;
  text << maps_file.rdbuf();
  const auto maps = parse_maps(text.str());
  char exe[4096] = {};
  const ssize_t n = readlink((proc + "/exe").c_str(), exe, sizeof exe - 1);
  const std::string exe_path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "";
  struct stat st {};
  const std::uint64_t inode = stat(binary.c_str(), &st) == 0 ? st.st_ino : 0;
  if (sites.size() > DWCP_MAX_SITES_PER_TARGET)
    return Error{"cannot attach " + std::to_string(sites.size()) + " uprobes to " + binary + ": at most " +
                     std::to_string(DWCP_MAX_SITES_PER_TARGET) + " per process on kernels without attach cookies",
                 0, ErrorKind::kBpf};
  auto unmapped = [&](std::uint64_t offset) {
    return Error{"cannot find " + binary + "+" + hex(offset) + " in the memory map of process " + std::to_string(pid) +
                     " (" + proc + "/maps)",
                 0, ErrorKind::kBpf};
  };
  std::vector<Link> links;
  for (const auto& site : sites) {
    const auto vaddr = file_offset_to_vaddr(maps, exe_path, inode, site.offset);
    if (!vaddr) return unmapped(site.offset);
    dwcp_spec_addr_key key{};
    key.tgid = static_cast<__u32>(pid);
    key.addr = *vaddr;
    if (bpf_map_update_elem(spec_map_fd, &key, &site.spec_index, BPF_ANY))
      return Error::system("cannot store the probe spec of " + binary + "+" + hex(site.offset), errno, ErrorKind::kBpf);
    auto link = attach_classic_uprobe(program, pid, binary, site.offset, std::nullopt);
    if (!link) {
      bpf_map_delete_elem(spec_map_fd, &key);
      return link.failure();
    }
    links.push_back(std::move(link).value().with_spec_entry(spec_map_fd, key));
  }
  return links;
}

}  // namespace dwcp::agent
