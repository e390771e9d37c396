#include "agent/bpf_load.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "agent/bpf_abi.h"
#include "agent/bpf_stats.h"
#include "agent/uprobe_multi.h"
#include "observer.skel.h"

namespace dwcp::agent {

BpfOptions with_environment(BpfOptions options) {
  if (const char* env = std::getenv("DWCP_OBSERVER_DISABLE_FEATURES"); env && options.disable_features.empty())
    options.disable_features = env;
  if (const char* env = std::getenv("DWCP_OBSERVER_PER_CHUNK_PROBES"); env && std::string(env) == "allow")
    options.allow_unvouched_per_chunk_probes = true;
  return options;
}

Result<PlannedKernel> plan_this_kernel(const BpfOptions& options) {
  KernelFeatures features = probe_kernel_features();
  if (auto refusal = kernel_refusal(features); !refusal)
    return Error{"cannot run on this kernel: " + refusal.error(), 0, ErrorKind::kBpf};
  std::vector<std::string> unknown;
  disable_features(&features, options.disable_features, &unknown);
  if (!unknown.empty()) {
    return Error{"DWCP_OBSERVER_DISABLE_FEATURES: unknown feature '" + unknown.front() +
                     "' (known: sock_length, fexit, attach_cookie, uprobe_multi, per_chunk_probes, exec_events)",
                 0, ErrorKind::kBpf};
  }
  features.allow_unvouched_per_chunk_probes = options.allow_unvouched_per_chunk_probes;
  return PlannedKernel{features.release, plan_kernel(features)};
}

void ObserverDestroy::operator()(observer* object) const { observer::destroy(object); }

namespace {

// Each job gets the best mechanism this kernel has; programs it cannot take are switched off
// before the one load (one missing tracepoint must not refuse the whole object).
void switch_programs(observer* skel, const KernelPlan& plan) {
  const bool fexit = plan.socket_bytes == SocketBytes::kFexit;
  bpf_program__set_autoload(skel->progs.on_sock_send_length, plan.socket_bytes == SocketBytes::kTracepoints);
  bpf_program__set_autoload(skel->progs.on_sock_recv_length, plan.socket_bytes == SocketBytes::kTracepoints);
  bpf_program__set_autoload(skel->progs.on_tcp_sendmsg_exit, fexit);
  bpf_program__set_autoload(skel->progs.on_tcp_recvmsg_exit, fexit && !plan.recvmsg_nonblock);
  bpf_program__set_autoload(skel->progs.on_tcp_recvmsg_exit_nonblock, fexit && plan.recvmsg_nonblock);
  const std::pair<bpf_program*, const char*> tcp_programs[] = {
      {skel->progs.on_inet_sock_set_state, "inet_sock_set_state"},
      {skel->progs.on_tcp_retransmit_skb, "tcp_retransmit_skb"},
      {skel->progs.on_tcp_send_reset, "tcp_send_reset"},
      {skel->progs.on_tcp_receive_reset, "tcp_receive_reset"},
      {skel->progs.on_tcp_probe, "tcp_probe"},
  };
  for (const auto& [program, name] : tcp_programs)
    bpf_program__set_autoload(program, std::find(plan.missing_tracepoints.begin(), plan.missing_tracepoints.end(),
                                                 name) == plan.missing_tracepoints.end());
  bpf_program__set_autoload(skel->progs.on_sched_process_exec, plan.exec_events);
  bpf_program__set_autoload(skel->progs.on_sched_process_exit, plan.exec_events);
  const bool cookies = plan.probe_spec == ProbeSpecSource::kCookie;
  const bool multi = plan.uprobe_links == UprobeLinks::kMulti;
  bpf_program__set_autoload(skel->progs.dwcp_uprobe, cookies);
  bpf_program__set_autoload(skel->progs.dwcp_uprobe_multi, multi);
  bpf_program__set_autoload(skel->progs.dwcp_uprobe_addr, !cookies);
  if (multi)
    bpf_program__set_expected_attach_type(skel->progs.dwcp_uprobe_multi,
                                          static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  if (cookies) bpf_map__set_max_entries(skel->maps.spec_by_addr, 1);  // unused
}

}  // namespace

Result<ObserverObject> load_observer(const BpfOptions& options, const PlannedKernel& planned) {
  ObserverObject skel(observer::open());
  if (!skel) return Error::system("cannot open the BPF object", errno, ErrorKind::kBpf);
  if (auto refusal = abi_refusal(skel->obj); !refusal)
    return Error{"cannot load the BPF programs: " + refusal.error(), 0, ErrorKind::kBpf};
  // A threshold the buffer cannot reach never wakes the consumer, which then drains only on its
  // 50 ms timer: a 256 KiB buffer lost 64 % of 70,000 events/s that 1 MiB carried without loss
  // (docs/performance.md, benchmark 3). Wake at a quarter of the buffer at most.
  skel->rodata->wakeup_bytes = std::min<std::uint64_t>(options.wakeup_bytes, options.ringbuf_bytes / 4);
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ringbuf_bytes); err) {
    return Error::system("invalid ring buffer size " + std::to_string(options.ringbuf_bytes) +
                             " (must be a power of two and at least the page size)",
                         err, ErrorKind::kBpf);
  }
  switch_programs(skel.get(), planned.plan);
  if (int err = observer::load(skel.get()); err) {
    std::string why = errno_text(err);
    if (err == -EPERM || err == -EACCES)
      why +=
          " — loading BPF programs needs root or CAP_BPF + CAP_PERFMON (and CAP_SYS_RESOURCE on "
          "kernels that charge BPF memory to RLIMIT_MEMLOCK)";
    else
      why += " — on " + describe_plan(planned.release, planned.plan) + "; run with --verbose for the verifier log";
    return Error{"cannot load the BPF programs: " + why, -err, ErrorKind::kBpf};
  }
  return skel;
}

ObserverMaps maps_of(const observer& object) {
  ObserverMaps maps;
  maps.ncpus = std::max(1, libbpf_num_possible_cpus());
  maps.sock_stats = bpf_map__fd(object.maps.sock_stats);
  maps.listeners = bpf_map__fd(object.maps.listeners);
  maps.probe_specs = bpf_map__fd(object.maps.probe_specs);
  maps.stream_layout = bpf_map__fd(object.maps.stream_layout);
  maps.spec_by_addr = bpf_map__fd(object.maps.spec_by_addr);
  maps.socket_bytes = bpf_map__fd(object.maps.socket_bytes);
  maps.drops = bpf_map__fd(object.maps.drops);
  maps.spec_hits = bpf_map__fd(object.maps.spec_hits);
  maps.inflight = bpf_map__fd(object.maps.inflight);
  maps.proc_events_lost = bpf_map__fd(object.maps.proc_events_lost);
  return maps;
}

}  // namespace dwcp::agent
