#include "agent/bpf_session.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/bpf_log.h"
#include "agent/bpf_targets.h"
#include "observer.skel.h"

namespace dwcp::agent {

Result<std::unique_ptr<BpfSession>> BpfSession::open(const BpfOptions& options) {
  route_libbpf_log(options.verbose);
  auto planned = plan_this_kernel(options);
  if (!planned) return planned.failure();
  auto loaded = load_observer(options, *planned);
  if (!loaded) return loaded.failure();

  std::unique_ptr<BpfSession> session(new BpfSession());
  session->release_ = planned->release;
  session->plan_ = planned->plan;
  session->multi_uprobes_ = session->plan_.uprobe_links == UprobeLinks::kMulti;
  session->skel_ = std::move(loaded).value();
  session->maps_ = maps_of(*session->skel_);
  observer* skel = session->skel_.get();
  session->ring_ =
      ring_buffer__new(bpf_map__fd(skel->maps.events), &BpfSession::on_ring_record, session.get(), nullptr);
  if (!session->ring_) return Error::system("cannot create the ring buffer reader", errno, ErrorKind::kBpf);
  if (session->plan_.exec_events && ring_buffer__add(session->ring_, bpf_map__fd(skel->maps.proc_events),
                                                     &BpfSession::on_proc_record, session.get())) {
    return Error::system("cannot read the process event ring buffer", errno, ErrorKind::kBpf);
  }
  return Result<std::unique_ptr<BpfSession>>(std::move(session));
}

BpfSession::~BpfSession() {
  if (retirer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(retire_mutex_);
      retire_stop_ = true;
    }
    retire_cv_.notify_one();
    retirer_.join();
  }
  // One by one on this thread, never by detach_links' helper threads: detaching a tracepoint
  // rewrites kernel text (its static key), sched_process_exit's inside do_exit, and threads exiting
  // while it is rewritten livelocked both CPUs of the 5.10 and 6.1 guests under qemu's TCG
  // (soft lockups in do_exit: docs/kernels.md). A dozen tracepoint links need no parallel grace periods.
  tracepoint_links_.clear();
  if (ring_) ring_buffer__free(ring_);
  // skel_, a member, is destroyed last: every link and reader of it is gone by then.
}

void BpfSession::retire(std::vector<Link> links) {
  if (std::any_of(links.begin(), links.end(), [](const Link& l) { return l.has_spec_entry(); })) {
    detach_links(&links);
    return;
  }
  std::lock_guard<std::mutex> lock(retire_mutex_);
  for (auto& link : links) retiring_.push_back(std::move(link));
  if (!retirer_.joinable()) {
    retirer_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(retire_mutex_);
      for (;;) {
        retire_cv_.wait(lock, [this] { return retire_stop_ || !retiring_.empty(); });
        if (retiring_.empty()) return;  // stopping, nothing left
        std::vector<Link> batch = std::move(retiring_);
        retiring_.clear();
        lock.unlock();
        detach_links(&batch);  // concurrently: their grace periods overlap
        lock.lock();
      }
    });
  }
  retire_cv_.notify_one();
}

Result<void> BpfSession::attach_socket_tracepoints() {
  struct Tracepoint {
    bpf_program* program;
    const char* name;
  };
  const Tracepoint tracepoints[] = {
      {skel_->progs.on_sock_send_length, "sock:sock_send_length"},
      {skel_->progs.on_sock_recv_length, "sock:sock_recv_length"},
      {skel_->progs.on_tcp_sendmsg_exit, "fexit tcp_sendmsg"},
      {skel_->progs.on_tcp_recvmsg_exit, "fexit tcp_recvmsg"},
      {skel_->progs.on_tcp_recvmsg_exit_nonblock, "fexit tcp_recvmsg"},
      {skel_->progs.on_inet_sock_set_state, "sock:inet_sock_set_state"},
      {skel_->progs.on_tcp_retransmit_skb, "tcp:tcp_retransmit_skb"},
      {skel_->progs.on_tcp_send_reset, "tcp:tcp_send_reset"},
      {skel_->progs.on_tcp_receive_reset, "tcp:tcp_receive_reset"},
      {skel_->progs.on_tcp_probe, "tcp:tcp_probe"},
      {skel_->progs.on_sched_process_exec, "sched:sched_process_exec"},
      {skel_->progs.on_sched_process_exit, "sched:sched_process_exit"},
  };
  for (const auto& tp : tracepoints) {
    if (!bpf_program__autoload(tp.program)) continue;  // not on this kernel (kernel_plan())
    Link link(bpf_program__attach(tp.program));
    if (!link) {
      Error error = Error::system(std::string("cannot attach tracepoint ") + tp.name, errno, ErrorKind::kBpf);
      tracepoint_links_.clear();
      return error;
    }
    tracepoint_links_.push_back(std::move(link));
  }
  return {};
}

Result<void> BpfSession::add_target(std::uint32_t tgid) { return register_target(maps_, tgid); }

void BpfSession::remove_target(std::uint32_t tgid) { unregister_target(maps_, tgid); }

Result<void> BpfSession::set_spec(std::uint32_t index, const dwcp_probe_spec& spec) {
  return store_spec(maps_, index, spec);
}

Result<void> BpfSession::set_stream_layout(const dwcp_stream_layout& layout) {
  return store_stream_layout(maps_, layout);
}

Result<std::vector<Link>> BpfSession::attach_uprobes(int pid, const std::string& binary,
                                                     const std::vector<UprobeSite>& sites) {
  if (plan_.probe_spec == ProbeSpecSource::kAddress)  // no cookies, hence no uprobe_multi either
    return attach_uprobes_by_address(bpf_program__fd(skel_->progs.dwcp_uprobe_addr), maps_.spec_by_addr, pid, binary,
                                     sites);
  UprobePrograms programs;
  programs.multi = multi_uprobes_ ? bpf_program__fd(skel_->progs.dwcp_uprobe_multi) : -1;
  programs.classic = bpf_program__fd(skel_->progs.dwcp_uprobe);
  programs.cookies = true;
  auto attached = agent::attach_uprobes(programs, pid, binary, sites);
  if (!attached) return attached.failure();
  if (attached->multi_refused) {  // this kernel loads the program but cannot link it: classic from now on
    multi_uprobes_ = false;
    plan_.uprobe_links = UprobeLinks::kClassic;
  }
  return std::move(attached->links);
}

int BpfSession::on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<BpfSession*>(ctx);
  if (size < sizeof(dwcp_event) || !self->current_handler_) return 0;
  dwcp_event event;
  std::memcpy(&event, data, sizeof(event));
  (*self->current_handler_)(event);
  return 0;
}

int BpfSession::on_proc_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<BpfSession*>(ctx);
  if (size < sizeof(dwcp_proc_event)) return 0;
  dwcp_proc_event event;
  std::memcpy(&event, data, sizeof(event));
  self->proc_events_.push_back(event);
  return 0;
}

std::vector<dwcp_proc_event> BpfSession::take_proc_events() {
  std::vector<dwcp_proc_event> out;
  out.swap(proc_events_);
  return out;
}

std::uint64_t BpfSession::proc_events_lost() const { return read_proc_events_lost(maps_); }

Result<int> BpfSession::poll(int timeout_ms, const EventHandler& handler) {
  current_handler_ = &handler;
  // Records are submitted without a wake-up until a threshold fills: poll() may time out while
  // data waits, so always drain explicitly afterwards.
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n >= 0) {
    int more = ring_buffer__consume(ring_);
    n = more >= 0 ? n + more : more;
  }
  current_handler_ = nullptr;
  if (n < 0) return Error::system("ring buffer poll", n, ErrorKind::kBpf);
  return n;
}

bool BpfSession::sock_stats(std::uint32_t tgid, dwcp_sock_stats* out) const {
  return read_sock_stats(maps_, tgid, out);
}

bool BpfSession::socket_bytes(std::uint64_t inode, dwcp_socket_bytes* out) const {
  return read_socket_bytes(maps_, inode, out);
}

void BpfSession::forget_socket(std::uint64_t inode) { agent::forget_socket(maps_, inode); }

void BpfSession::counters(BpfCounters* out) const { read_counters(maps_, out); }

std::uint64_t BpfSession::probe_hits(std::uint32_t probe_id) const { return read_probe_hits(maps_, probe_id); }

void BpfSession::forget_inflight(std::uint32_t probe_id) { agent::forget_inflight(maps_, probe_id); }

std::optional<ProgramRunStats> BpfSession::program_stats() const {
  bpf_program* program = multi_uprobes_ ? skel_->progs.dwcp_uprobe_multi : skel_->progs.dwcp_uprobe;
  if (plan_.probe_spec == ProbeSpecSource::kAddress) program = skel_->progs.dwcp_uprobe_addr;
  auto stats = read_program_run_stats(bpf_program__fd(program));
  return stats ? std::optional<ProgramRunStats>(*stats) : std::nullopt;
}

std::optional<BpfSession::SocketProgramStats> BpfSession::socket_program_stats() const {
  struct Program {
    bpf_program* program;
    bool hot;  // runs once per send/receive call or per segment
  };
  const Program programs[] = {
      {skel_->progs.on_sock_send_length, true},          {skel_->progs.on_sock_recv_length, true},
      {skel_->progs.on_tcp_sendmsg_exit, true},          {skel_->progs.on_tcp_recvmsg_exit, true},
      {skel_->progs.on_tcp_recvmsg_exit_nonblock, true}, {skel_->progs.on_inet_sock_set_state, false},
      {skel_->progs.on_tcp_retransmit_skb, false},       {skel_->progs.on_tcp_send_reset, false},
      {skel_->progs.on_tcp_receive_reset, false},        {skel_->progs.on_tcp_probe, true},
  };
  SocketProgramStats total;
  for (const auto& p : programs) {
    if (!bpf_program__autoload(p.program)) continue;  // not loaded on this kernel
    auto stats = read_program_run_stats(bpf_program__fd(p.program));
    if (!stats) return std::nullopt;
    total.run_time_ns += stats->run_time_ns;
    if (p.hot) total.hot_runs += stats->run_count;
  }
  return total;
}

}  // namespace dwcp::agent
