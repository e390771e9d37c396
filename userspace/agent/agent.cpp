#include "agent/agent.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "agent/bpf_load.h"
#include "agent/privilege.h"
#include "agent/syscall_filter.h"
#include "agent/trap_calibration.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/http_server.h"
#include "http/process_collector.h"
#include "log/log.h"

namespace dwcp::agent {

using profile::join;

Agent::Agent(AgentOptions options) : options_(std::move(options)) {}

Agent::~Agent() {
  // Links first (detach the probes), then the BPF object, then stop serving.
  for (auto& target : targets_) {
    std::vector<Link> links = target->detach();
    detach_links(&links);
  }
  http_.reset();
  bpf_.reset();
}

std::string Agent::listen_address() const { return http_ ? http_->address() : ""; }
std::vector<std::string> Agent::listen_addresses() const {
  return http_ ? http_->addresses() : std::vector<std::string>{};
}

Result<void> Agent::start() {
  if (auto missing = missing_capabilities(); !missing.empty())
    return Error{"missing capabilities: " + join(missing, ", ") +
                     " — run as root (sudo), or grant them: `setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep "
                     "$(command -v dwcp-observer)`",
                 0, ErrorKind::kPrivilege};
  // A typo in --listen fails before anything touches the kernel; binding comes last (below).
  if (auto listen = parse_listen_address(options_.listen); !listen)
    return listen.failure().with_kind(ErrorKind::kListen);

  auto loaded = profile::load_profile(options_.profile_path);
  if (!loaded) return Error{"cannot use the probe profile: " + loaded.error(), 0, ErrorKind::kSymbols};
  profile_ = std::move(loaded.value());
  loader_ = std::make_unique<ExecutableLoader>(options_.attach_timeout, options_.policy.allow_fs_types);
  refusals_ = std::make_shared<RefusalLog>(log_);
  if (options_.discover) discovery_ = std::make_unique<Discovery>(options_.policy, refusals_.get());

  // Resolve every target before touching the kernel: a typo in a PID must not leave probes.
  std::vector<std::pair<TargetSpec, std::optional<ProcessInfo>>> resolved;
  std::vector<int> taken;
  for (TargetSpec spec : options_.targets) {
    std::optional<ProcessInfo> process;
    if (spec.pid != 0) {
      auto inspected = inspect_process(spec.pid);
      if (!inspected) return inspected.failure().with_kind(ErrorKind::kTarget);
      process = std::move(inspected).value();
      if (spec.comm.empty() && options_.follow) spec.comm = process->comm;
    } else {
      process = find_allowed(spec.comm, spec.exe, taken);
    }
    if (process) taken.push_back(process->pid);
    resolved.emplace_back(std::move(spec), std::move(process));
  }

  // Privilege separation (agent/http_child.h, docs/security.md): the HTTP server runs in a
  // process of its own, started while this one is still privileged (it binds and reads the TLS
  // files, then drops to --user/--group with no capability). It starts before the BPF object is
  // even opened: a start that fails here (a port in use, an unreadable TLS key) has touched no
  // target, so a unit restarting every few seconds never puts probes on DWCP.
  models_ = std::make_shared<ModelRegistry>();
  session_metrics_ = std::make_shared<SessionMetrics>();
  consistency_metrics_ = std::make_shared<ConsistencyMetrics>(*session_metrics_->registry());
  HttpOptions http_options;
  http_options.listen_address = options_.listen;
  http_options.basic_auth_user = options_.basic_auth_user;
  http_options.basic_auth_password = options_.basic_auth_password;
  http_options.basic_auth_users = options_.basic_auth_users;
  http_options.tls = options_.tls;
  http_options.extra_listen_addresses = options_.extra_listen;
  http_options.inherited_listeners = options_.systemd_listeners;
  http_options.telemetry_path = options_.telemetry_path;
  http_options.max_requests = options_.max_requests;
  http_options.headers = options_.http_headers;
  // A slow or idle client costs the event loop a descriptor, not a worker: a short head timeout
  // and the connection cap keep scrapes answered (docs/security.md, HTTP front).
  http_options.request_timeout_ms = 2000;
  process_metrics_ = std::make_shared<http::ProcessCollector>();  // this process's process_*
  const RunAs run_as = options_.run_as.value_or(RunAs{0, 0, "root"});
  std::vector<std::weak_ptr<prometheus::Collectable>> served = {models_, session_metrics_->registry(), refusals_};
  if (!options_.disable_exporter_metrics) served.push_back(process_metrics_);
  auto http = HttpChild::start(http_options, run_as, std::move(served));
  if (!http) return http.failure().with_kind(ErrorKind::kListen);
  http_ = std::move(http).value();
  log_.info("HTTP process " + std::to_string(http_->pid()) + " serves " + http_->address() + " as " +
            http_->credentials());

  BpfOptions bpf_options;
  bpf_options.ringbuf_bytes = options_.ringbuf_bytes;
  bpf_options.wakeup_bytes = options_.wakeup_bytes;
  bpf_options.verbose = options_.verbose;
  // The environment's overrides (DWCP_OBSERVER_DISABLE_FEATURES, ..._PER_CHUNK_PROBES) are read
  // here, once, with the rest of the configuration: nothing below reads the environment.
  auto bpf = BpfSession::open(with_environment(bpf_options));
  if (!bpf) return bpf.failure().with_kind(ErrorKind::kBpf);
  bpf_ = std::move(bpf).value();
  log_.info(describe_plan(bpf_->kernel_release(), bpf_->kernel_plan()));
  if (Result<void> attached = bpf_->attach_socket_tracepoints(); !attached)
    return attached.failure().with_kind(ErrorKind::kBpf);

  // What observing costs on this kernel, measured before any probe fires (agent/trap_calibration.h).
  // Both need privilege the agent drops below: BPF_ENABLE_STATS needs CAP_SYS_ADMIN, and the
  // calibration attaches a uprobe to this binary.
  if (auto stats = BpfStatsSession::enable())
    bpf_stats_ = std::move(stats).value();
  else
    log_.info("BPF run-time stats unavailable (" + stats.error() + "): overhead estimates count traps only");
  if (auto trap = calibrate_trap_cost()) {
    trap_ns_ = trap->ns_per_hit;
    log_.info("uprobe trap cost on this kernel: " + std::to_string(std::lround(trap_ns_)) + " ns per hit");
  } else {
    trap_ns_ = 5000;  // 3-9 us on the VMs measured (docs/performance.md)
    log_.info("cannot calibrate the uprobe trap cost (" + trap.error() + "): assuming 5000 ns per hit");
  }

  std::vector<std::string> probe_names(DWCP_MAX_PROBES);
  for (const auto& probe : profile_.probes) {
    probe_names[probe.probe_id] = probe.event;
    if (Result<void> set = bpf_->set_spec(contract::entry_spec_index(probe.probe_id), probe.entry); !set) return set;
    if (!probe.has_exit) continue;
    if (Result<void> set = bpf_->set_spec(contract::exit_spec_index(probe.probe_id), probe.exit); !set) return set;
  }
  // Per-stream bytes from DWCP's own counters (agent/stream_reader.h): the BPF side reads the
  // stream table at each Close with the profile's layout.
  if (const auto& layout = profile_.session_layout) {
    dwcp_stream_layout kernel_layout{
        1, DWCP_MAX_SESSION_STREAMS, layout->streams_off, layout->stream_id_off, layout->sent_off, layout->recv_off};
    if (Result<void> set = bpf_->set_stream_layout(kernel_layout); !set) return set;
  } else {
    log_.info("profile '" + profile_.name +
              "' declares no AMST session layout (types transport.MultiStreamTCP "
              "and transport.StreamConn): per-stream bytes come from chunk probes only, if it has any");
  }
  observer_ = std::make_shared<ObserverMetrics>(bpf_.get(), std::move(probe_names));
  observer_->set_trap_cost(trap_ns_ * 1e-9);
  http_->add_collectable(observer_);

  // The start-up work that needs calls never made again is done (the HTTP process spawned, the BPF
  // object loaded, the calibration's uprobe on this binary): from here on, before any target's
  // executable or memory is read, the agent's allow-list (agent/syscall_filter.h).
  if (syscall_filters_enabled()) {
    if (Result<void> helper = prepare_read_helper_filter(); !helper) return helper;
    Result<int> filtered = apply_syscall_filter(FilterRole::kAgent);
    if (!filtered)
      return Error{"cannot load the seccomp filter: " + filtered.error() + " (--no-seccomp runs without it)"};
    log_.info("seccomp: system call filter on (agent: " + std::to_string(*filtered) +
              " calls allowed, others fail with EPERM; HTTP process and read helper: others kill them)");
  } else {
    log_.warn("seccomp: system call filters off (--no-seccomp)");
  }

  const bool labelled = options_.targets.size() > 1;
  bool may_reattach = options_.follow || options_.discover;
  for (auto& [spec, process] : resolved) {
    auto target = std::make_unique<Target>(spec, make_model(labelled ? spec.label : ""));
    may_reattach |= !spec.comm.empty() || !spec.exe.empty();
    if (process) {
      Result<void> attached = attach(*target, *process);
      if (!attached &&
          !(attached.failure().kind == ErrorKind::kTarget && follows(*target) && !loader_->stuck().empty()))
        return attached;
      // A follower whose executable read is stuck: readiness says so, the next process is awaited.
      if (!attached) {
        log_.info(attached.error());
        target->reject(*process);
      }
    } else {
      log_.info("waiting for a process matching " + spec.label + " to start");
    }
    targets_.push_back(std::move(target));
  }

  // Still a single thread here (but for a given-up read): every thread started from now on
  // (the HTTP answerer, the consumer) inherits the reduced credentials.
  CapabilityNeeds needs;
  needs.reattach = may_reattach || options_.probe_budget > 0 ||  // demotion re-attaches
                   map_reads_need_cap_bpf();                     // kernels before 5.19 (kernel_features.h)
  needs.reattach_opens_perf_events = bpf_->kernel_plan().uprobe_links == UprobeLinks::kClassic;
  needs.run_as = options_.run_as;
  if (auto kept = drop_capabilities_after_attach(needs))
    log_.info("capabilities after attach: " + (kept->empty() ? std::string("none") : join(*kept, ", ")) + "; " +
              describe_credentials());
  else
    log_.warn("could not drop capabilities after attach: " + kept.error());
  http_->serve();
  update_readiness();
  if (discovery_)
    log_.info("discovery: watching every process for the package " + profile_.package +
              " (executables owned by root, "
              "not writable by group or others" +
              (options_.policy.allow_uids.empty() ? "" : ", --allow-uid") +
              (options_.policy.allow_paths.empty() ? "" : ", --allow-path") +
              (options_.policy.allow_build_ids.empty() ? "" : ", --allow-build-id") + "), at most " +
              std::to_string(DWCP_MAX_TARGETS) + " at once");
  return {};
}

std::unique_ptr<MetricsModel> Agent::make_model(const std::string& target_label,
                                                const std::map<std::string, std::string>& identity_labels) const {
  ModelOptions model_options;
  model_options.cluster = options_.cluster;
  model_options.node = options_.node;
  model_options.max_label_values = options_.max_label_values;
  if (!target_label.empty()) {
    model_options.target_labels = identity_labels;
    model_options.target_labels["target"] = target_label;
  }
  return std::make_unique<MetricsModel>(models_, model_options);
}

void Agent::update_readiness() {
  if (!http_) return;
  // A read stuck past its deadline is not ready whatever else is attached: the operator must see it.
  if (loader_) {
    const std::vector<std::string> stuck = loader_->stuck();
    if (!stuck.empty()) {
      http_->set_ready(false, "attach stuck: " + join(stuck, "; "));
      return;
    }
  }
  bool any = false;
  int attached = 0;
  std::string why = discovery_ && targets_.empty() ? "no DWCP process discovered yet" : "";
  for (const auto& target : targets_) {
    std::string state;
    if (target->attached()) {
      any = true;
      ++attached;
      state =
          "ready (pid " + std::to_string(target->process()->pid) + ", " + std::to_string(target->sites()) + " uprobes)";
    } else if (target->build_id().empty()) {
      state = "not attached yet (waiting for a process matching " + target->label() + ")";
    } else {
      state = follows(*target) ? "target exited; waiting for a successor" : "target exited (not following it)";
    }
    why += (why.empty() ? "" : "; ") + target->label() + ": " + state;
  }
  if (observer_) observer_->set_targets_attached(attached);
  http_->set_ready(any, any ? "" : "no target attached: " + why);
}

void Agent::run(const std::atomic<bool>& stop) {
  using clock = std::chrono::steady_clock;
  auto next_check = clock::now();
  auto next_overhead = clock::now() + options_.overhead_interval;
  auto next_budget_check = clock::now();
  auto next_bandwidth = clock::now();
  auto last_scan = clock::now() - options_.discovery_interval;
  auto next_streams = clock::now();
  account_overhead();  // baselines: hits, BPF run time and target CPU at the start
  // A burst keeps the ring buffer full and poll() draining it for as long as it lasts: the
  // budget's check between ticks also runs from here, every 256 events, when it is due.
  std::uint64_t events = 0;
  const auto handler = [this, &events, &next_budget_check](const dwcp_event& e) {
    handle_event(e);
    if (++events % 256 == 0 && clock::now() >= next_budget_check) {
      check_interval_budget();
      next_budget_check = clock::now() + std::chrono::milliseconds(50);
    }
  };
  while (!stop.load()) {
    // Records arrive without wake-ups below the threshold: a short poll is the drain timer. With
    // no process attached there is nothing to drain, sample or read, and each exec wakes the
    // loop by itself (exec events): discovery waiting alone wakes once a second, not 20 times.
    bool waiting = discovery_ && bpf_->kernel_plan().exec_events;
    for (const auto& target : targets_) waiting = waiting && !target->attached() && !follows(*target);
    const int timeout_ms = bpf_->proc_events_pending() ? 0 : waiting ? 1000 : 50;
    if (Result<int> n = bpf_->poll(timeout_ms, handler); !n && n.failure().code != EINTR)
      log_.info("ring buffer poll failed: " + std::to_string(-n.failure().code));
    handle_proc_events();
    end_sampling_windows();  // within one poll (50 ms) of each window's end
    const auto early = early_tick();
    if (clock::now() >= next_overhead || (early != clock::time_point{} && clock::now() >= early)) {
      account_overhead();
      next_overhead = clock::now() + options_.overhead_interval;
      next_budget_check = clock::now() + std::chrono::milliseconds(50);
    } else if (clock::now() >= next_budget_check) {
      check_interval_budget();  // a burst is cut within ~50 ms of spending the interval's budget
      next_budget_check = clock::now() + std::chrono::milliseconds(50);
    }
    if (clock::now() >= next_check) {
      check_lifecycle();
      next_check = clock::now() + std::chrono::milliseconds(200);
    }
    if (discovery_) {
      // Exec events tell of new processes: a scan is only a resync once one has seen them all. A
      // read given up on (stuck) is retried by the first scan after it ends, and no exec event
      // says when that is: while one is stuck (found by a scan or an exec), scan at the interval.
      const bool resync = bpf_->kernel_plan().exec_events && discovery_->complete() && stuck_candidates_.empty();
      const auto every = resync ? std::chrono::duration_cast<std::chrono::milliseconds>(options_.discovery_resync)
                                : options_.discovery_interval;
      if (clock::now() >= last_scan + every) {
        // A resync looks again at processes judged already only when the kernel lost exec events
        // since the last scan (proc_events full): otherwise each of their execve()s was reported.
        const std::uint64_t lost = bpf_->proc_events_lost();
        discover(nullptr, !resync || lost != proc_events_lost_);
        proc_events_lost_ = lost;
        last_scan = clock::now();
      }
    }
    if (clock::now() >= next_streams) {
      read_stream_counters();
      // Often enough that a rate over a few seconds is not quantized by the reads (top's 5 s window
      // sees at most 4 % of jitter); a read is a few process_vm_readv calls per live session.
      next_streams = clock::now() + std::chrono::milliseconds(200);
    }
    if (clock::now() >= next_bandwidth) {
      sample_bandwidth();
      next_bandwidth = clock::now() + std::chrono::seconds(5);
    }
  }
  (void)bpf_->poll(0, handler);  // the last events; a failure here has no one left to tell
}

}  // namespace dwcp::agent
