// The agent's one handle on the kernel side, as libpman's API is Falco's: it owns the loaded BPF
// object, the tracepoint links, the ring buffers and the thread that detaches retired links, and
// hands each job to the file that does it: opening, planning and loading (agent/bpf_load.h),
// attaching uprobes (agent/uprobe_attach.h), registering targets (agent/bpf_targets.h), reading
// maps (agent/bpf_map_readers.h), libbpf's log (agent/bpf_log.h). libbpf's NULL+errno / -errno
// conventions become Errors (dwcp_observer/result.h) in those files, once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/bpf_load.h"
#include "agent/bpf_map_readers.h"
#include "agent/bpf_maps.h"
#include "agent/bpf_stats.h"
#include "agent/kernel_features.h"
#include "agent/uprobe_attach.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/result.h"

struct ring_buffer;

namespace dwcp::agent {

class BpfSession {
 public:
  using EventHandler = std::function<void(const dwcp_event&)>;

  // Probes the kernel, switches off the programs it cannot take, and loads the BPF object once.
  // Error text says what is missing or what to do (privilege, kernel, memlock). `options` is the
  // whole configuration: the caller applies the environment's overrides (with_environment,
  // agent/bpf_load.h); nothing in the session reads the environment.
  static Result<std::unique_ptr<BpfSession>> open(const BpfOptions& options);
  // What this kernel got per job (socket bytes, probe specs, uprobe links).
  const KernelPlan& kernel_plan() const { return plan_; }
  const std::string& kernel_release() const { return release_; }
  ~BpfSession();
  BpfSession(const BpfSession&) = delete;
  BpfSession& operator=(const BpfSession&) = delete;

  // The socket/TCP tracepoints (or fexit programs) and the process event tracepoints the kernel plan
  // loaded; kept for the session's life.
  Result<void> attach_socket_tracepoints();
  // Starts counting socket traffic of `tgid` (creates its zeroed entry: the tgid filter).
  Result<void> add_target(std::uint32_t tgid);
  void remove_target(std::uint32_t tgid);

  Result<void> set_spec(std::uint32_t index, const dwcp_probe_spec& spec);
  // Where AMST sessions keep their streams: read at each session_close entry (events.h).
  Result<void> set_stream_layout(const dwcp_stream_layout& layout);
  // Uprobes on every site in `binary`, in process `pid` only, running the generic program with
  // each site's spec. One uprobe_multi link where the kernel supports it, else one link per site.
  // All or nothing: on failure nothing stays attached and the error says which site failed.
  Result<std::vector<Link>> attach_uprobes(int pid, const std::string& binary, const std::vector<UprobeSite>& sites);
  // Detaches the links of a process that is gone (or runs another program) without waiting:
  // each uprobe link waits for RCU grace periods as it goes (~50-150 ms), which the agent's loop
  // would otherwise spend before it looks at the next exec. A thread of the session detaches
  // them; the session's destructor waits for it. Links with a {tgid, address} spec entry
  // (kernels without cookies) are detached here and now: a late delete could remove the entry
  // of the same PID's next program.
  void retire(std::vector<Link> links);

  // Process execs and observed processes' exits read by the last poll() (kernel_plan().exec_events;
  // empty otherwise), oldest first; taking them empties the list.
  std::vector<dwcp_proc_event> take_proc_events();
  // Some were read and not taken yet (a poll(0) while detaching reads them too): the next poll
  // must not wait.
  bool proc_events_pending() const { return !proc_events_.empty(); }
  // Process events the kernel could not queue (proc_events full): the next /proc resync finds them.
  std::uint64_t proc_events_lost() const;
  // Drains the ring buffer, waiting at most timeout_ms for data. Returns the events handled; the
  // error keeps epoll's errno (EINTR: a signal, not a fault).
  Result<int> poll(int timeout_ms, const EventHandler& handler);

  bool sock_stats(std::uint32_t tgid, dwcp_sock_stats* out) const;
  // One socket's bytes since the target was added, by socket inode number (events.h,
  // dwcp_socket_bytes); false when the socket carried none since (or its entry aged out).
  bool socket_bytes(std::uint64_t inode, dwcp_socket_bytes* out) const;
  // Drops a socket's entry (a closed AMST stream's socket, once its figures are settled).
  void forget_socket(std::uint64_t inode);
  void counters(BpfCounters* out) const;
  // Uprobe hits of one probe so far (entry and RET sites): two map reads instead of counters()'s
  // hundreds, for the budget's checks between ticks.
  std::uint64_t probe_hits(std::uint32_t probe_id) const;
  // Deletes the entries of `probe_id` waiting for their RET (all processes). Called after a
  // sampled probe's link is detached: an entry whose RET fell outside the window would otherwise
  // pair, in the next window, with a RET of another call of the same goroutine.
  void forget_inflight(std::uint32_t probe_id);
  // Cumulative run time and count of the uprobe program (agent/bpf_stats.h: zero while stats are off).
  std::optional<ProgramRunStats> program_stats() const;
  // The same summed over the socket and TCP programs (sockets.bpf.h, connections.bpf.h), which run
  // in whichever process sends, receives or handles a segment; `hot_runs` counts the runs of the
  // per-call and per-segment ones (send and receive bytes, tcp_probe), every process's.
  struct SocketProgramStats {
    std::uint64_t run_time_ns = 0;
    std::uint64_t hot_runs = 0;
  };
  std::optional<SocketProgramStats> socket_program_stats() const;

 private:
  BpfSession() = default;
  static int on_ring_record(void* ctx, void* data, std::size_t size);
  static int on_proc_record(void* ctx, void* data, std::size_t size);

  ObserverObject skel_;
  ObserverMaps maps_;
  ring_buffer* ring_ = nullptr;
  std::vector<Link> tracepoint_links_;
  const EventHandler* current_handler_ = nullptr;
  std::vector<dwcp_proc_event> proc_events_;
  bool multi_uprobes_ = false;  // kernel takes BPF_TRACE_UPROBE_MULTI links
  KernelPlan plan_;
  std::string release_;
  std::mutex retire_mutex_;
  std::condition_variable retire_cv_;
  std::vector<Link> retiring_;
  bool retire_stop_ = false;
  std::thread retirer_;  // started by the first retire()
};

}  // namespace dwcp::agent
