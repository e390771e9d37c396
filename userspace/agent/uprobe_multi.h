// BPF_LINK_CREATE for uprobe_multi links (kernel 6.6+): all of a process's uprobe sites in one
// link, attached and detached in one step. Debian 12's libbpf 1.1 and uapi headers predate it,
// so the attr is laid out here once, as in the kernel's include/uapi/linux/bpf.h.
#pragma once

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dwcp::agent {

constexpr int kBpfTraceUprobeMulti = 48;  // enum bpf_attach_type BPF_TRACE_UPROBE_MULTI

// Returns the link fd, or -1 with errno set (EINVAL/EOPNOTSUPP/ENOSYS: the kernel has no
// uprobe_multi; fall back to one classic uprobe per site). `cookies` may be empty.
inline int create_uprobe_multi_link(int prog_fd, int pid, const std::string& binary,
                                    const std::vector<std::uint64_t>& offsets,
                                    const std::vector<std::uint64_t>& cookies) {
  struct UprobeMultiAttr {
    __u32 prog_fd;
    __u32 target_fd;
    __u32 attach_type;
    __u32 flags;
    __u64 path;
    __u64 offsets;
    __u64 ref_ctr_offsets;
    __u64 cookies;
    __u32 cnt;
    __u32 multi_flags;
    __u32 pid;
    __u32 pad_[17];  // the rest of union bpf_attr: must be zero
  } attr{};
  attr.prog_fd = static_cast<__u32>(prog_fd);
  attr.attach_type = kBpfTraceUprobeMulti;
  attr.path = reinterpret_cast<__u64>(binary.c_str());
  attr.offsets = reinterpret_cast<__u64>(offsets.data());
  attr.cookies = cookies.empty() ? 0 : reinterpret_cast<__u64>(cookies.data());
  attr.cnt = static_cast<__u32>(offsets.size());
  attr.pid = static_cast<__u32>(pid);
  return static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr)));
}

}  // namespace dwcp::agent
