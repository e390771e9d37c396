// RAII owner of the kernel side: the loaded BPF object (skeleton), every link, the ring buffer.
// libbpf's NULL+errno / -errno conventions are turned into Errors (dwcp_observer/result.h) here, once.
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

#include "agent/bpf_stats.h"
#include "agent/kernel_features.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/result.h"

struct observer;
struct bpf_link;
struct ring_buffer;

namespace dwcp::agent {

// One attachment: a libbpf link (tracepoint, classic uprobe) or a raw link fd (uprobe_multi,
// which libbpf 1.1 cannot create). Detached when destroyed; move-only.
class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* link) : link_(link) {}
  static Link from_fd(int fd) {
    Link l;
    l.fd_ = fd;
    return l;
  }
  // Also removes the site's entry from the {tgid, address} -> spec map when detached (kernels
  // without attach cookies).
  Link with_spec_entry(int map_fd, const dwcp_spec_addr_key& key) && {
    spec_map_fd_ = map_fd;
    spec_key_ = key;
    return std::move(*this);
  }
  Link(Link&& other) noexcept
      : link_(other.link_), fd_(other.fd_), spec_map_fd_(other.spec_map_fd_), spec_key_(other.spec_key_) {
    other.link_ = nullptr;
    other.fd_ = -1;
    other.spec_map_fd_ = -1;
  }
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }
  void reset();
  explicit operator bool() const { return link_ != nullptr || fd_ >= 0; }
  bool has_spec_entry() const { return spec_map_fd_ >= 0; }

 private:
  bpf_link* link_ = nullptr;
  int fd_ = -1;
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

struct BpfOptions {
  std::uint32_t ringbuf_bytes = 1u << 22;  // power of two, >= page size
  std::uint64_t wakeup_bytes = 256 * 1024;
  bool verbose = false;  // libbpf's info and debug lines (the verifier log) into our log; its warnings always
  // Features to treat as absent (kernel_features.h, disable_features); defaults to the
  // environment variable DWCP_OBSERVER_DISABLE_FEATURES.
  std::string disable_features;
};

// Per-probe loss and hit counts summed over CPUs.
struct BpfCounters {
  std::uint64_t drops[DWCP_MAX_PROBES][DWCP_DROP_COUNT] = {};
  std::uint64_t spec_hits[DWCP_MAX_SPECS] = {};
  // Uprobe hits of one probe: its entry site and every RET site.
  std::uint64_t probe_hits(std::uint32_t probe_id) const {
    return spec_hits[contract::entry_spec_index(probe_id)] + spec_hits[contract::exit_spec_index(probe_id)];
  }
};

class BpfSession {
 public:
  using EventHandler = std::function<void(const dwcp_event&)>;

  // Probes the kernel, switches off the programs it cannot take, and loads the BPF object once.
  // Error text says what is missing or what to do (privilege, kernel, memlock).
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
  void seed_listeners(std::uint32_t tgid);
  Result<std::vector<Link>> attach_uprobes_by_address(int pid, const std::string& binary,
                                                      const std::vector<UprobeSite>& sites);

  observer* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<Link> tracepoint_links_;
  const EventHandler* current_handler_ = nullptr;
  std::vector<dwcp_proc_event> proc_events_;
  int ncpus_ = 1;
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
