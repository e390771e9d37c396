#include "agent/kernel_features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "agent/uprobe_multi.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/fd.h"

namespace dwcp::agent {

const std::vector<std::string>& tcp_tracepoints() {
  static const std::vector<std::string> names = {"inet_sock_set_state", "tcp_retransmit_skb", "tcp_send_reset",
                                                 "tcp_receive_reset", "tcp_probe"};
  return names;
}

const std::vector<std::string>& process_tracepoints() {
  static const std::vector<std::string> names = {"sched_process_exec", "sched_process_exit"};
  return names;
}

std::pair<int, int> kernel_version(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

Result<void> kernel_refusal(const KernelFeatures& features) {
  const auto version = kernel_version(features.release);
  std::string missing;
  if (version.first != 0 && version < std::make_pair(5, 10))
    missing = "kernel " + features.release +
              " is older than 5.10, the oldest supported (BPF ring buffer, "
              "BTF-typed tracepoints and bpf_probe_read_user are needed)";
  if (!features.btf) {
    if (!missing.empty()) missing += "; ";
    missing +=
        "the kernel has no BTF (/sys/kernel/btf/vmlinux missing or unreadable: CONFIG_DEBUG_INFO_BTF=y "
        "is needed)";
  }
  if (!missing.empty()) return Error{missing, 0, ErrorKind::kBpf};
  return {};
}

bool is_per_chunk_event(const std::string& event) {
  const auto kind = contract::event_kind_from_name(event);
  return kind && contract::event_kind_info(*kind).per_chunk;
}

bool per_chunk_probes_vouched(const std::string& release) { return kernel_version(release) < std::make_pair(7, 0); }

KernelPlan plan_kernel(const KernelFeatures& features) {
  KernelPlan plan;
  plan.refuse_per_chunk_probes = !features.per_chunk_probes && !features.allow_unvouched_per_chunk_probes;
  plan.unvouched_per_chunk_probes = !features.per_chunk_probes && features.allow_unvouched_per_chunk_probes;
  const bool tracepoints =
      features.tracepoints.count("sock_send_length") != 0 && features.tracepoints.count("sock_recv_length") != 0;
  const bool recvmsg_known = features.tcp_recvmsg_params == 5 || features.tcp_recvmsg_params == 6;
  if (tracepoints) {
    plan.socket_bytes = SocketBytes::kTracepoints;
  } else if (features.fexit_tcp && recvmsg_known) {
    plan.socket_bytes = SocketBytes::kFexit;
    plan.recvmsg_nonblock = features.tcp_recvmsg_params == 6;
  } else {
    plan.socket_bytes = SocketBytes::kNone;
    plan.why_no_socket_bytes = "no sock_send_length/sock_recv_length tracepoints (6.3+)";
    if (!features.fexit_tcp)
      plan.why_no_socket_bytes += " and no fexit on tcp_sendmsg (BPF trampolines refused)";
    else
      plan.why_no_socket_bytes +=
          " and tcp_recvmsg has " + std::to_string(features.tcp_recvmsg_params) + " arguments in BTF (5 or 6 expected)";
  }
  plan.probe_spec = features.attach_cookie ? ProbeSpecSource::kCookie : ProbeSpecSource::kAddress;
  // uprobe_multi links carry the cookies; without cookies the address map serves classic uprobes.
  plan.uprobe_links = features.uprobe_multi && features.attach_cookie ? UprobeLinks::kMulti : UprobeLinks::kClassic;
  for (const auto& name : tcp_tracepoints())
    if (!features.tracepoints.count(name)) plan.missing_tracepoints.push_back(name);
  plan.exec_events = true;
  for (const auto& name : process_tracepoints())
    plan.exec_events = plan.exec_events && features.tracepoints.count(name);
  return plan;
}

std::vector<std::pair<std::string, std::string>> feature_mechanisms(const KernelPlan& plan) {
  std::vector<std::pair<std::string, std::string>> out;
  switch (plan.socket_bytes) {
    case SocketBytes::kTracepoints:
      out.emplace_back("socket_bytes", "sock_length_tracepoints");
      break;
    case SocketBytes::kFexit:
      out.emplace_back("socket_bytes", "fexit_tcp_sendmsg_recvmsg");
      break;
    case SocketBytes::kNone:
      out.emplace_back("socket_bytes", "none");
      break;
  }
  out.emplace_back("probe_spec", plan.probe_spec == ProbeSpecSource::kCookie ? "attach_cookie" : "address_map");
  out.emplace_back("uprobe_link", plan.uprobe_links == UprobeLinks::kMulti ? "uprobe_multi" : "classic");
  out.emplace_back("discovery", plan.exec_events ? "exec_tracepoint" : "proc_scan");
  return out;
}

std::string describe_plan(const std::string& release, const KernelPlan& plan) {
  std::ostringstream out;
  out << "kernel " << release << ": ";
  switch (plan.socket_bytes) {
    case SocketBytes::kTracepoints:
      out << "socket bytes from tracepoints sock_send_length/sock_recv_length";
      break;
    case SocketBytes::kFexit:
      out << "socket bytes from fexit tcp_sendmsg/tcp_recvmsg";
      break;
    case SocketBytes::kNone:
      out << "no socket byte counts (" << plan.why_no_socket_bytes << ")";
      break;
  }
  out << "; "
      << (plan.probe_spec == ProbeSpecSource::kCookie ? "probe specs from attach cookies"
                                                      : "probe specs by address (no attach cookies)");
  out << "; " << (plan.uprobe_links == UprobeLinks::kMulti ? "uprobe_multi links" : "classic uprobes");
  if (!plan.missing_tracepoints.empty()) {
    out << "; tracepoints missing (their counters stay 0):";
    for (const auto& name : plan.missing_tracepoints) out << ' ' << name;
  }
  out << "; " << (plan.exec_events ? "process execs from sched_process_exec" : "process execs by /proc scans only");
  if (plan.refuse_per_chunk_probes)
    out << "; per-chunk probes (send_chunk, receive_chunk) refused: a target died under them once at a pc in the "
           "uprobe single-step page on 7.2, cause unknown (docs/kernels.md)";
  if (plan.unvouched_per_chunk_probes)
    out << "; per-chunk probes allowed by DWCP_OBSERVER_PER_CHUNK_PROBES=allow although not vouched for on this "
           "kernel (docs/kernels.md)";
  return out.str();
}

void disable_features(KernelFeatures* features, const std::string& list, std::vector<std::string>* unknown) {
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name.empty()) continue;
    if (name == "sock_length") {
      features->tracepoints.erase("sock_send_length");
      features->tracepoints.erase("sock_recv_length");
    } else if (name == "fexit") {
      features->fexit_tcp = false;
    } else if (name == "attach_cookie") {
      features->attach_cookie = false;
    } else if (name == "uprobe_multi") {
      features->uprobe_multi = false;
    } else if (name == "per_chunk_probes") {
      features->per_chunk_probes = false;
    } else if (name == "exec_events") {
      for (const auto& tracepoint : process_tracepoints()) features->tracepoints.erase(tracepoint);
    } else if (unknown) {
      unknown->push_back(name);
    }
  }
}

bool map_reads_need_cap_bpf(const std::string& release, int unprivileged_bpf_disabled) {
  const auto version = kernel_version(release);
  return version < std::make_pair(5, 19) && unprivileged_bpf_disabled != 0;
}

bool map_reads_need_cap_bpf() {
  utsname uts{};
  if (uname(&uts) != 0) return true;
  int disabled = -1;
  if (FILE* f = std::fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "r")) {
    if (std::fscanf(f, "%d", &disabled) != 1) disabled = -1;
    std::fclose(f);
  }
  return map_reads_need_cap_bpf(uts.release, disabled);
}

namespace {

// mov r0, 0; exit
int load_trivial(bpf_prog_type type, const bpf_prog_load_opts* opts) {
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[1].code = BPF_JMP | BPF_EXIT;
  return bpf_prog_load(type, nullptr, "GPL", insns, 2, opts);
}

// The kernel takes an fexit program on `function` and can attach it (trampolines work: some
// hardened kernels refuse them). Attached for an instant with a program that does nothing.
bool fexit_works(int function_btf_id) {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT,
              .attach_btf_id = static_cast<__u32>(function_btf_id));
  const Fd prog(load_trivial(BPF_PROG_TYPE_TRACING, &opts));
  if (!prog) return false;
  return static_cast<bool>(Fd(bpf_raw_tracepoint_open(nullptr, prog.get())));
}

// As libbpf's own probe (1.3+): a uprobe_multi link on "/" fails with EBADF where the kernel
// knows the link type, with EINVAL where it does not.
bool uprobe_multi_works() {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  const Fd prog(load_trivial(BPF_PROG_TYPE_KPROBE, &opts));
  if (!prog) return false;
  const Fd link(create_uprobe_multi_link(prog.get(), 0, "/", {0}, {}));
  return !link && errno == EBADF;
}

}  // namespace

KernelFeatures probe_kernel_features() {
  KernelFeatures features;
  utsname uts{};
  if (uname(&uts) == 0) features.release = uts.release;
  features.per_chunk_probes = per_chunk_probes_vouched(features.release);

  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux || libbpf_get_error(vmlinux)) return features;
  features.btf = true;
  std::vector<std::string> names = tcp_tracepoints();
  names.push_back("sock_send_length");
  names.push_back("sock_recv_length");
  names.insert(names.end(), process_tracepoints().begin(), process_tracepoints().end());
  for (const auto& name : names)
    if (btf__find_by_name_kind(vmlinux, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) >= 0)
      features.tracepoints.insert(name);
  const int recvmsg = btf__find_by_name_kind(vmlinux, "tcp_recvmsg", BTF_KIND_FUNC);
  if (recvmsg >= 0) {
    const btf_type* func = btf__type_by_id(vmlinux, recvmsg);
    const btf_type* proto = func ? btf__type_by_id(vmlinux, func->type) : nullptr;
    if (proto && btf_is_func_proto(proto)) features.tcp_recvmsg_params = btf_vlen(proto);
  }
  const int sendmsg = btf__find_by_name_kind(vmlinux, "tcp_sendmsg", BTF_KIND_FUNC);
  features.fexit_tcp = sendmsg >= 0 && recvmsg >= 0 && fexit_works(sendmsg);
  btf__free(vmlinux);

  features.attach_cookie = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, nullptr) == 1;
  features.uprobe_multi = uprobe_multi_works();
  return features;
}

}  // namespace dwcp::agent
