#include "agent/bpf_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "observer.skel.h"

namespace dwcp::agent {
namespace {

bool g_libbpf_verbose = false;

// libbpf prints warnings for things we handle ourselves (a missing tracepoint we switch off);
// keep it quiet unless --verbose, but never hide its errors.
int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_verbose) return 0;
  if (level == LIBBPF_INFO && !g_libbpf_verbose) return 0;
  std::fputs("libbpf: ", stderr);
  return std::vfprintf(stderr, format, args);
}

std::string errno_text(int err) {
  if (err < 0) err = -err;
  return std::strerror(err);
}

}  // namespace

void LinkDeleter::operator()(bpf_link* link) const {
  if (link) bpf_link__destroy(link);
}

std::unique_ptr<BpfSession> BpfSession::open(const BpfOptions& options, std::string* error) {
  g_libbpf_verbose = options.verbose;
  libbpf_set_print(libbpf_log);

  std::unique_ptr<BpfSession> session(new BpfSession());
  session->ncpus_ = libbpf_num_possible_cpus();
  if (session->ncpus_ <= 0) session->ncpus_ = 1;

  session->skel_ = observer::open();
  if (!session->skel_) {
    *error = "cannot open the BPF object: " + errno_text(errno);
    return nullptr;
  }
  auto* skel = session->skel_;
  skel->rodata->wakeup_bytes = options.wakeup_bytes;
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ringbuf_bytes); err) {
    *error = "invalid ring buffer size " + std::to_string(options.ringbuf_bytes) +
             " (must be a power of two and at least the page size): " + errno_text(err);
    return nullptr;
  }
  if (int err = observer::load(skel); err) {
    std::string why = errno_text(err);
    if (err == -EPERM || err == -EACCES)
      why += " — loading BPF programs needs root or CAP_BPF + CAP_PERFMON (and CAP_SYS_RESOURCE on "
             "kernels that charge BPF memory to RLIMIT_MEMLOCK)";
    else
      why += " — check that the kernel has BTF (/sys/kernel/btf/vmlinux) and BPF enabled; run "
             "with --verbose for the verifier log";
    *error = "cannot load the BPF programs: " + why;
    return nullptr;
  }
  session->ring_ = ring_buffer__new(bpf_map__fd(skel->maps.events), &BpfSession::on_ring_record,
                                    session.get(), nullptr);
  if (!session->ring_) {
    *error = "cannot create the ring buffer reader: " + errno_text(errno);
    return nullptr;
  }
  return session;
}

BpfSession::~BpfSession() {
  tracepoint_links_.clear();
  if (ring_) ring_buffer__free(ring_);
  if (skel_) observer::destroy(skel_);
}

bool BpfSession::attach_socket_tracepoints(std::string* error) {
  struct Tracepoint {
    bpf_program* program;
    const char* name;
  };
  const Tracepoint tracepoints[] = {
      {skel_->progs.on_sock_send_length, "sock:sock_send_length"},
      {skel_->progs.on_sock_recv_length, "sock:sock_recv_length"},
      {skel_->progs.on_inet_sock_set_state, "sock:inet_sock_set_state"},
      {skel_->progs.on_tcp_retransmit_skb, "tcp:tcp_retransmit_skb"},
      {skel_->progs.on_tcp_send_reset, "tcp:tcp_send_reset"},
      {skel_->progs.on_tcp_receive_reset, "tcp:tcp_receive_reset"},
      {skel_->progs.on_tcp_probe, "tcp:tcp_probe"},
  };
  for (const auto& tp : tracepoints) {
    Link link(bpf_program__attach(tp.program));
    if (!link) {
      *error = std::string("cannot attach tracepoint ") + tp.name + ": " + errno_text(errno);
      tracepoint_links_.clear();
      return false;
    }
    tracepoint_links_.push_back(std::move(link));
  }
  return true;
}

bool BpfSession::add_target(std::uint32_t tgid, std::string* error) {
  std::vector<dwcp_sock_stats> zero(ncpus_);
  if (bpf_map__update_elem(skel_->maps.sock_stats, &tgid, sizeof(tgid), zero.data(),
                           sizeof(dwcp_sock_stats) * zero.size(), BPF_ANY)) {
    *error = "cannot register process " + std::to_string(tgid) +
             " for socket counting (at most " + std::to_string(DWCP_MAX_TARGETS) +
             " targets): " + errno_text(errno);
    return false;
  }
  return true;
}

void BpfSession::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.sock_stats, &tgid, sizeof(tgid), 0);
}

bool BpfSession::set_spec(std::uint32_t index, const dwcp_probe_spec& spec, std::string* error) {
  if (bpf_map__update_elem(skel_->maps.probe_specs, &index, sizeof(index), &spec, sizeof(spec),
                           BPF_ANY)) {
    *error = "cannot store probe spec " + std::to_string(index) + ": " + errno_text(errno);
    return false;
  }
  return true;
}

Link BpfSession::attach_uprobe(int pid, const std::string& binary, std::uint64_t offset,
                               std::uint32_t spec_index, std::string* error) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = spec_index, .retprobe = false);
  Link link(bpf_program__attach_uprobe_opts(skel_->progs.dwcp_uprobe, pid, binary.c_str(),
                                            static_cast<size_t>(offset), &opts));
  if (!link) {
    int err = errno;
    *error = "cannot attach uprobe at " + binary + "+0x" +
             [&] {
               char buf[32];
               std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(offset));
               return std::string(buf);
             }() +
             ": " + errno_text(err);
  }
  return link;
}

int BpfSession::on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<BpfSession*>(ctx);
  if (size < sizeof(dwcp_event) || !self->current_handler_) return 0;
  dwcp_event event;
  std::memcpy(&event, data, sizeof(event));
  (*self->current_handler_)(event);
  return 0;
}

int BpfSession::poll(int timeout_ms, const EventHandler& handler) {
  current_handler_ = &handler;
  // Records are submitted without a wake-up until a threshold fills: poll() may time out while
  // data waits, so always drain explicitly afterwards.
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n >= 0) {
    int more = ring_buffer__consume(ring_);
    n = more >= 0 ? n + more : more;
  }
  current_handler_ = nullptr;
  return n;
}

bool BpfSession::sock_stats(std::uint32_t tgid, dwcp_sock_stats* out) const {
  std::vector<dwcp_sock_stats> per_cpu(ncpus_);
  if (bpf_map__lookup_elem(skel_->maps.sock_stats, &tgid, sizeof(tgid), per_cpu.data(),
                           sizeof(dwcp_sock_stats) * per_cpu.size(), 0))
    return false;
  *out = {};
  constexpr std::size_t kFields = sizeof(dwcp_sock_stats) / sizeof(__u64);
  auto* sum = reinterpret_cast<__u64*>(out);
  for (const auto& cpu : per_cpu) {
    const auto* v = reinterpret_cast<const __u64*>(&cpu);
    for (std::size_t i = 0; i < kFields; ++i) sum[i] += v[i];
  }
  return true;
}

void BpfSession::counters(BpfCounters* out) const {
  *out = {};
  std::vector<std::uint64_t> per_cpu(ncpus_);
  for (std::uint32_t key = 0; key < DWCP_MAX_PROBES * DWCP_DROP_COUNT; ++key) {
    if (bpf_map__lookup_elem(skel_->maps.drops, &key, sizeof(key), per_cpu.data(),
                             sizeof(std::uint64_t) * per_cpu.size(), 0))
      continue;
    for (auto v : per_cpu) out->drops[key / DWCP_DROP_COUNT][key % DWCP_DROP_COUNT] += v;
  }
  for (std::uint32_t key = 0; key < DWCP_MAX_SPECS; ++key) {
    if (bpf_map__lookup_elem(skel_->maps.spec_hits, &key, sizeof(key), per_cpu.data(),
                             sizeof(std::uint64_t) * per_cpu.size(), 0))
      continue;
    for (auto v : per_cpu) out->spec_hits[key] += v;
  }
}

bool BpfSession::program_stats(std::uint64_t* run_time_ns, std::uint64_t* run_count) const {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.dwcp_uprobe), &info, &len)) return false;
  *run_time_ns = info.run_time_ns;
  *run_count = info.run_cnt;
  return true;
}

}  // namespace dwcp::agent
