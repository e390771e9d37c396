// What this kernel offers the BPF side, probed before the single load, and the mechanism each
// job gets from it. Supported floor: 5.10 with BTF. Per job, the best mechanism that exists:
//   socket bytes  sock_send_length/sock_recv_length tracepoints (6.3+), else fexit on
//                 tcp_sendmsg/tcp_recvmsg (BTF + trampolines), else none (logged, metric says so)
//   probe specs   BPF cookie per attachment (5.15+), else a {tgid, address} -> spec map
//   uprobe links  one uprobe_multi link per target (6.6+), else one classic uprobe per site
//   discovery     sched_process_exec/exit tracepoints (every supported kernel), else /proc scans only
// Probing is separate from planning so that the plan (pure) is unit-tested with any feature set.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dwcp_observer/result.h"

namespace dwcp::agent {

struct KernelFeatures {
  std::string release;                // uname -r
  bool btf = false;                   // /sys/kernel/btf/vmlinux loads
  std::set<std::string> tracepoints;  // tp_btf tracepoints present (btf_trace_<name> in BTF)
  bool fexit_tcp = false;             // an fexit program on tcp_sendmsg loads and attaches
  int tcp_recvmsg_params = 0;         // argument count of tcp_recvmsg in BTF (6 before 5.19, 5 after)
  bool attach_cookie = false;         // bpf_get_attach_cookie in kprobe/uprobe programs
  bool uprobe_multi = false;          // BPF_TRACE_UPROBE_MULTI links
  // Probes hit per AMST chunk (send_chunk, receive_chunk: the debug profile) are vouched for: false
  // from 7.0, where a target died once at a pc in the uprobe single-step (XOL) page under them and
  // the cause is not known (docs/kernels.md, "7.x: per-chunk probes refused").
  bool per_chunk_probes = true;
  // DWCP_OBSERVER_PER_CHUNK_PROBES=allow: attach them anyway where they are not vouched for (the
  // operator accepts the risk; tests/kernels/chunk_probe_stress.py needs them there).
  bool allow_unvouched_per_chunk_probes = false;
};

enum class SocketBytes { kTracepoints, kFexit, kNone };
enum class ProbeSpecSource { kCookie, kAddress };
enum class UprobeLinks { kMulti, kClassic };

struct KernelPlan {
  SocketBytes socket_bytes = SocketBytes::kNone;
  bool recvmsg_nonblock = false;  // fexit variant with tcp_recvmsg's pre-5.19 `nonblock` argument
  ProbeSpecSource probe_spec = ProbeSpecSource::kCookie;
  UprobeLinks uprobe_links = UprobeLinks::kClassic;
  std::vector<std::string> missing_tracepoints;  // TCP tracepoints switched off (counters stay 0)
  // Process execs and exits from sched_process_exec/exit: discovery judges a process at its exec
  // and the /proc scan is a slow resync; without them (or disabled) discovery scans /proc only.
  bool exec_events = false;
  std::string why_no_socket_bytes;
  bool refuse_per_chunk_probes = false;     // send_chunk/receive_chunk probes are refused, not attached
  bool unvouched_per_chunk_probes = false;  // attached although not vouched for (allowed by the operator)
};

// Whether a profile probe of this event is hit once per AMST chunk (the debug profile's
// send_chunk and receive_chunk), not once per transfer.
bool is_per_chunk_event(const std::string& event);
// Kernels from 7.0: per-chunk probes are not vouched for there (KernelFeatures::per_chunk_probes).
bool per_chunk_probes_vouched(const std::string& release);

// The tp_btf tracepoints the object uses besides the socket byte pair.
const std::vector<std::string>& tcp_tracepoints();
// The two tracepoints of process events (KernelPlan::exec_events).
const std::vector<std::string>& process_tracepoints();

// Ok when the agent can run on this kernel, else what is missing, named exactly.
Result<void> kernel_refusal(const KernelFeatures& features);
// Release "5.10.0-32-amd64" -> {5, 10}; {0, 0} when unparsable.
std::pair<int, int> kernel_version(const std::string& release);

KernelPlan plan_kernel(const KernelFeatures& features);

// One line for the log: "kernel 6.1.0-50-amd64: socket bytes from fexit tcp_sendmsg/tcp_recvmsg;
// probe specs by address (no attach cookies); classic uprobes".
std::string describe_plan(const std::string& release, const KernelPlan& plan);
// {feature, mechanism} pairs of dwcp_observer_kernel_feature.
std::vector<std::pair<std::string, std::string>> feature_mechanisms(const KernelPlan& plan);

// Before 5.19 the kernel checks kernel.unprivileged_bpf_disabled on every bpf() command, map
// reads through an fd already held included: with it set (Debian's default), an agent that drops
// CAP_BPF after attaching can no longer read its socket counters. `unprivileged_bpf_disabled` is
// the sysctl's value (-1: unreadable).
bool map_reads_need_cap_bpf(const std::string& release, int unprivileged_bpf_disabled);
// The same for the running kernel.
bool map_reads_need_cap_bpf();

// Switches features off as if the kernel lacked them (tests of the fallbacks on a newer kernel):
// a comma-separated list of sock_length, fexit, attach_cookie, uprobe_multi, per_chunk_probes,
// exec_events
// (environment variable DWCP_OBSERVER_DISABLE_FEATURES). Unknown names are returned in *unknown.
void disable_features(KernelFeatures* features, const std::string& list, std::vector<std::string>* unknown);

// Probes the running kernel (BTF, helper and link probes; loads tiny programs, attaches nothing
// that outlives the call). Needs the privileges the agent runs with.
KernelFeatures probe_kernel_features();

}  // namespace dwcp::agent
