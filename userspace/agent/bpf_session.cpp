#include "agent/bpf_session.h"
#include "dwcp_observer/text.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/bpf_abi.h"
#include "agent/bpf_stats.h"
#include "agent/listeners.h"
#include "agent/load_base.h"
#include "agent/uprobe_multi.h"
#include "log/log.h"
#include "observer.skel.h"

namespace dwcp::agent {
namespace {

bool g_libbpf_verbose = false;

// libbpf prints warnings for things we handle ourselves (a missing tracepoint we switch off);
// keep it quiet unless --verbose, but never hide its errors.
int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_verbose) return 0;
  if (level == LIBBPF_INFO && !g_libbpf_verbose) return 0;
  // One log: libbpf's lines go through our logger (levels, timestamps, escaping), one per call.
  char text[1024];
  const int n = std::vsnprintf(text, sizeof(text), format, args);
  std::string_view message(text, n < 0 ? 0 : std::min<std::size_t>(n, sizeof(text) - 1));
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  const dwcp::log::Level ours = level == LIBBPF_WARN   ? dwcp::log::Level::kWarn
                                : level == LIBBPF_INFO ? dwcp::log::Level::kInfo
                                                       : dwcp::log::Level::kDebug;
  dwcp::log::write(ours, message, {{"component", "libbpf"}});
  return n;
}

}  // namespace

Link& Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    reset();
    link_ = other.link_;
    fd_ = other.fd_;
    // The spec-map entry moves with the link: left behind, the moved-from object's destructor
    // would delete the entry of a live uprobe.
    spec_map_fd_ = other.spec_map_fd_;
    spec_key_ = other.spec_key_;
    other.link_ = nullptr;
    other.fd_ = -1;
    other.spec_map_fd_ = -1;
  }
  return *this;
}

void Link::reset() {
  if (link_) bpf_link__destroy(link_);
  if (fd_ >= 0) close(fd_);
  // After the detach: no hit can look the entry up any more.
  if (spec_map_fd_ >= 0) bpf_map_delete_elem(spec_map_fd_, &spec_key_);
  link_ = nullptr;
  fd_ = -1;
  spec_map_fd_ = -1;
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

std::vector<std::uint64_t> site_offsets(const std::vector<UprobeSite>& sites) {
  std::vector<std::uint64_t> offsets;
  for (const auto& site : sites) offsets.push_back(site.offset);
  return offsets;
}

std::vector<std::uint64_t> site_cookies(const std::vector<UprobeSite>& sites) {
  std::vector<std::uint64_t> cookies;
  for (const auto& site : sites) cookies.push_back(site.spec_index);
  return cookies;
}

}  // namespace

Result<std::unique_ptr<BpfSession>> BpfSession::open(const BpfOptions& options) {
  g_libbpf_verbose = options.verbose;
  libbpf_set_print(libbpf_log);

  std::unique_ptr<BpfSession> session(new BpfSession());
  session->ncpus_ = libbpf_num_possible_cpus();
  if (session->ncpus_ <= 0) session->ncpus_ = 1;

  KernelFeatures features = probe_kernel_features();
  session->release_ = features.release;
  if (auto refusal = kernel_refusal(features); !refusal) {
    return Error{"cannot run on this kernel: " + refusal.error(), 0, ErrorKind::kBpf};
  }
  std::string disable = options.disable_features;
  if (const char* env = std::getenv("DWCP_OBSERVER_DISABLE_FEATURES"); env && disable.empty()) disable = env;
  std::vector<std::string> unknown;
  disable_features(&features, disable, &unknown);
  if (!unknown.empty()) {
    return Error{"DWCP_OBSERVER_DISABLE_FEATURES: unknown feature '" + unknown.front() +
                     "' (known: sock_length, fexit, attach_cookie, uprobe_multi, per_chunk_probes, exec_events)",
                 0, ErrorKind::kBpf};
  }
  if (const char* env = std::getenv("DWCP_OBSERVER_PER_CHUNK_PROBES"); env && std::string(env) == "allow")
    features.allow_unvouched_per_chunk_probes = true;
  session->plan_ = plan_kernel(features);

  session->skel_ = observer::open();
  if (!session->skel_) {
    return Error::system("cannot open the BPF object", errno, ErrorKind::kBpf);
  }
  auto* skel = session->skel_;
  if (auto refusal = abi_refusal(skel->obj); !refusal) {
    return Error{"cannot load the BPF programs: " + refusal.error(), 0, ErrorKind::kBpf};
  }
  // A threshold the buffer cannot reach never wakes the consumer, which then drains only on its
  // 50 ms timer: a 256 KiB buffer lost 64 % of 70,000 events/s that 1 MiB carried without loss
  // (docs/performance.md, benchmark 3). Wake at a quarter of the buffer at most.
  const std::uint64_t wakeup_bytes = std::min<std::uint64_t>(options.wakeup_bytes, options.ringbuf_bytes / 4);
  skel->rodata->wakeup_bytes = wakeup_bytes;
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ringbuf_bytes); err) {
    return Error::system("invalid ring buffer size " + std::to_string(options.ringbuf_bytes) +
                             " (must be a power of two and at least the page size)",
                         err, ErrorKind::kBpf);
  }
  // Each job gets the best mechanism this kernel has; programs it cannot take are switched off
  // before the one load (one missing tracepoint must not refuse the whole object).
  const KernelPlan& plan = session->plan_;
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
  session->multi_uprobes_ = plan.uprobe_links == UprobeLinks::kMulti;
  bpf_program__set_autoload(skel->progs.dwcp_uprobe, cookies);
  bpf_program__set_autoload(skel->progs.dwcp_uprobe_multi, session->multi_uprobes_);
  bpf_program__set_autoload(skel->progs.dwcp_uprobe_addr, !cookies);
  if (session->multi_uprobes_)
    bpf_program__set_expected_attach_type(skel->progs.dwcp_uprobe_multi,
                                          static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  if (cookies) bpf_map__set_max_entries(skel->maps.spec_by_addr, 1);  // unused
  if (int err = observer::load(skel); err) {
    std::string why = errno_text(err);
    if (err == -EPERM || err == -EACCES)
      why +=
          " — loading BPF programs needs root or CAP_BPF + CAP_PERFMON (and CAP_SYS_RESOURCE on "
          "kernels that charge BPF memory to RLIMIT_MEMLOCK)";
    else
      why += " — on " + describe_plan(session->release_, plan) + "; run with --verbose for the verifier log";
    return Error{"cannot load the BPF programs: " + why, -err, ErrorKind::kBpf};
  }
  session->ring_ =
      ring_buffer__new(bpf_map__fd(skel->maps.events), &BpfSession::on_ring_record, session.get(), nullptr);
  if (!session->ring_) {
    return Error::system("cannot create the ring buffer reader", errno, ErrorKind::kBpf);
  }
  if (plan.exec_events && ring_buffer__add(session->ring_, bpf_map__fd(skel->maps.proc_events),
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
  detach_links(&tracepoint_links_);
  if (ring_) ring_buffer__free(ring_);
  if (skel_) observer::destroy(skel_);
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

Result<void> BpfSession::add_target(std::uint32_t tgid) {
  std::vector<dwcp_sock_stats> zero(ncpus_);
  if (bpf_map__update_elem(skel_->maps.sock_stats, &tgid, sizeof(tgid), zero.data(),
                           sizeof(dwcp_sock_stats) * zero.size(), BPF_ANY)) {
    return Error::system("cannot register process " + std::to_string(tgid) + " for socket counting (at most " +
                             std::to_string(DWCP_MAX_TARGETS) + " targets)",
                         errno, ErrorKind::kBpf);
  }
  seed_listeners(tgid);
  return {};
}

// Listeners the process opened before the attach (a server's usual state): the BPF side learns
// only those opened later, at listen(). Best effort: a process without them loses nothing.
void BpfSession::seed_listeners(std::uint32_t tgid) {
  const std::string proc = "/proc/" + std::to_string(tgid);
  struct stat ns {};
  if (stat((proc + "/ns/net").c_str(), &ns) != 0) return;
  const auto sockets = socket_inodes(static_cast<int>(tgid));
  if (sockets.empty()) return;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in(proc + table);
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& listener : parse_listeners(text.str())) {
      if (!sockets.count(listener.inode)) continue;
      dwcp_listen_key key{};
      key.netns = static_cast<__u32>(ns.st_ino);
      key.port = listener.port;
      bpf_map__update_elem(skel_->maps.listeners, &key, sizeof(key), &tgid, sizeof(tgid), BPF_ANY);
    }
  }
}

void BpfSession::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.sock_stats, &tgid, sizeof(tgid), 0);
  // Its listeners: a successor process (same port, new PID) registers its own.
  std::vector<dwcp_listen_key> stale;
  dwcp_listen_key key{}, next{};
  const dwcp_listen_key* cursor = nullptr;
  while (bpf_map__get_next_key(skel_->maps.listeners, cursor, &next, sizeof(next)) == 0) {
    std::uint32_t owner = 0;
    if (bpf_map__lookup_elem(skel_->maps.listeners, &next, sizeof(next), &owner, sizeof(owner), 0) == 0 &&
        owner == tgid)
      stale.push_back(next);
    key = next;
    cursor = &key;
  }
  for (const auto& k : stale) bpf_map__delete_elem(skel_->maps.listeners, &k, sizeof(k), 0);
}

Result<void> BpfSession::set_spec(std::uint32_t index, const dwcp_probe_spec& spec) {
  if (bpf_map__update_elem(skel_->maps.probe_specs, &index, sizeof(index), &spec, sizeof(spec), BPF_ANY)) {
    return Error::system("cannot store probe spec " + std::to_string(index), errno, ErrorKind::kBpf);
  }
  return {};
}

Result<void> BpfSession::set_stream_layout(const dwcp_stream_layout& layout) {
  const std::uint32_t zero = 0;
  if (bpf_map__update_elem(skel_->maps.stream_layout, &zero, sizeof(zero), &layout, sizeof(layout), BPF_ANY)) {
    return Error::system("cannot store the AMST stream table layout", errno, ErrorKind::kBpf);
  }
  return {};
}

Result<std::vector<Link>> BpfSession::attach_uprobes(int pid, const std::string& binary,
                                                     const std::vector<UprobeSite>& sites) {
  std::vector<Link> links;
  if (sites.empty()) return links;
  if (multi_uprobes_) {
    int fd = create_uprobe_multi_link(bpf_program__fd(skel_->progs.dwcp_uprobe_multi), pid, binary, site_offsets(sites),
                                      site_cookies(sites));
    if (fd >= 0) {
      links.push_back(Link::from_fd(fd));
      return links;
    }
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
      return Error::system("cannot attach " + std::to_string(sites.size()) + " uprobes to " + binary, errno,
                           ErrorKind::kBpf);
    multi_uprobes_ = false;  // this kernel loads the program but cannot link it: classic path
    plan_.uprobe_links = UprobeLinks::kClassic;
  }
  if (plan_.probe_spec == ProbeSpecSource::kAddress) return attach_uprobes_by_address(pid, binary, sites);
  for (const auto& site : sites) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = site.spec_index, .retprobe = false);
    Link link(bpf_program__attach_uprobe_opts(skel_->progs.dwcp_uprobe, pid, binary.c_str(),
                                              static_cast<size_t>(site.offset), &opts));
    if (!link)
      return Error::system("cannot attach uprobe at " + binary + "+" + hex(site.offset), errno, ErrorKind::kBpf);
    links.push_back(std::move(link));
  }
  return links;
}

// No attach cookies (before 5.15): each site's spec index goes into the {tgid, address} map
// before its uprobe is attached; the link removes the entry again when it is detached.
Result<std::vector<Link>> BpfSession::attach_uprobes_by_address(int pid, const std::string& binary,
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
  const int map_fd = bpf_map__fd(skel_->maps.spec_by_addr);
  std::vector<Link> links;
  for (const auto& site : sites) {
    const auto vaddr = file_offset_to_vaddr(maps, exe_path, inode, site.offset);
    if (!vaddr)
      return Error{"cannot find " + binary + "+" + hex(site.offset) + " in the memory map of process " +
                       std::to_string(pid) + " (" + proc + "/maps)",
                   0, ErrorKind::kBpf};
    dwcp_spec_addr_key key{};
    key.tgid = static_cast<__u32>(pid);
    key.addr = *vaddr;
    if (bpf_map_update_elem(map_fd, &key, &site.spec_index, BPF_ANY))
      return Error::system("cannot store the probe spec of " + binary + "+" + hex(site.offset), errno, ErrorKind::kBpf);
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
    Link link(bpf_program__attach_uprobe_opts(skel_->progs.dwcp_uprobe_addr, pid, binary.c_str(),
                                              static_cast<size_t>(site.offset), &opts));
    if (!link) {
      Error error = Error::system("cannot attach uprobe at " + binary + "+" + hex(site.offset), errno, ErrorKind::kBpf);
      bpf_map_delete_elem(map_fd, &key);
      return error;
    }
    links.push_back(std::move(link).with_spec_entry(map_fd, key));
  }
  return links;
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

std::uint64_t BpfSession::proc_events_lost() const {
  std::vector<std::uint64_t> per_cpu(ncpus_);
  const std::uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.proc_events_lost, &zero, sizeof(zero), per_cpu.data(),
                           sizeof(std::uint64_t) * per_cpu.size(), 0))
    return 0;
  std::uint64_t sum = 0;
  for (auto n : per_cpu) sum += n;
  return sum;
}

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

bool BpfSession::socket_bytes(std::uint64_t inode, dwcp_socket_bytes* out) const {
  return bpf_map__lookup_elem(skel_->maps.socket_bytes, &inode, sizeof(inode), out, sizeof(*out), 0) == 0;
}

void BpfSession::forget_socket(std::uint64_t inode) {
  bpf_map__delete_elem(skel_->maps.socket_bytes, &inode, sizeof(inode), 0);
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

std::uint64_t BpfSession::probe_hits(std::uint32_t probe_id) const {
  std::uint64_t hits = 0;
  std::vector<std::uint64_t> per_cpu(ncpus_);
  for (std::uint32_t key : {contract::entry_spec_index(probe_id), contract::exit_spec_index(probe_id)}) {
    if (key >= DWCP_MAX_SPECS || bpf_map__lookup_elem(skel_->maps.spec_hits, &key, sizeof(key), per_cpu.data(),
                                                      sizeof(std::uint64_t) * per_cpu.size(), 0))
      continue;
    for (auto v : per_cpu) hits += v;
  }
  return hits;
}

void BpfSession::forget_inflight(std::uint32_t probe_id) {
  std::vector<dwcp_inflight_key> doomed;
  dwcp_inflight_key key{}, next{};
  const dwcp_inflight_key* at = nullptr;  // nullptr: the first key
  while (bpf_map__get_next_key(skel_->maps.inflight, at, &next, sizeof(next)) == 0) {
    if (next.probe_id == probe_id) doomed.push_back(next);
    key = next;
    at = &key;
  }
  for (const auto& k : doomed) bpf_map__delete_elem(skel_->maps.inflight, &k, sizeof(k), 0);
}

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
