#include "agent/agent.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "agent/privilege.h"
#include "agent/system_state.h"
#include "dwcp_observer/http_server.h"
#include "http/process_collector.h"
#include "log/log.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {
namespace {

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// Why the binary's DWARF says `probe` would read the wrong bytes, or "" when every field offset
// the probe relies on agrees (or the DWARF does not describe it: then the profile stands).
std::string field_offset_conflict(const std::vector<profile::FieldOffsetUse>& uses, const goelf::DwarfTypes& dwarf) {
  for (const auto& use : uses) {
    auto offset = dwarf.field_offset(use.go_type, use.field);
    if (!offset || static_cast<int64_t>(*offset) == use.offset) continue;
    // "github.com/.../transport.StreamConn" -> "transport.StreamConn", as the profile spells it.
    const std::string type = use.go_type.substr(use.go_type.rfind('/') + 1);
    return "field " + type + "." + use.field + " is at offset " + std::to_string(*offset) +
           " in this binary's DWARF, the profile says " + std::to_string(use.offset) +
           " — correct its \"types\" entry";
  }
  return "";
}

}  // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)) {}

Agent::~Agent() {
  // Links first (detach the probes), then the BPF object, then stop serving.
  for (auto& target : targets_) detach_links(&target->links);
  http_.reset();
  bpf_.reset();
}

void Agent::log(const std::string& message) const {
  if (message.rfind("warning: ", 0) == 0) dwcp::log::warn(message.substr(9));
  else dwcp::log::info(message);
}

std::string Agent::listen_address() const { return http_ ? http_->address() : ""; }

int Agent::start(std::string* error) {
  if (auto missing = missing_capabilities(); !missing.empty()) {
    *error = "missing capabilities: " + join(missing, ", ") +
             " — run as root (sudo), or grant them: `setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep "
             "$(command -v dwcp-observer)`";
    return kExitPrivilege;
  }
  // A typo in --listen fails before anything touches the kernel; binding comes last (below).
  std::string listen_host;
  int listen_port = 0;
  if (!parse_listen_address(options_.listen, &listen_host, &listen_port, error)) return kExitListen;

  auto loaded = profile::load_profile(options_.profile_path);
  if (!loaded) {
    *error = "cannot use the probe profile: " + loaded.error();
    return kExitSymbols;
  }
  profile_ = std::move(loaded.value());
  loader_ = std::make_unique<ExecutableLoader>(options_.attach_timeout);
  refusals_ = std::make_shared<RefusalLog>([this](const std::string& line) { log(line); });
  if (options_.discover) discovery_ = std::make_unique<Discovery>(options_.policy, refusals_.get());

  // Resolve every target before touching the kernel: a typo in a PID must not leave probes.
  std::vector<std::pair<std::unique_ptr<Target>, std::optional<ProcessInfo>>> resolved;
  std::vector<int> taken;
  for (const auto& spec : options_.targets) {
    auto target = std::make_unique<Target>();
    target->spec = spec;
    std::optional<ProcessInfo> process;
    if (spec.pid != 0) {
      std::string why;
      process = inspect_process(spec.pid, &why);
      if (!process) {
        *error = why;
        return kExitTarget;
      }
      if (target->spec.comm.empty() && options_.follow) target->spec.comm = process->comm;
    } else {
      process = find_allowed(spec.comm, spec.exe, taken);
    }
    if (process) taken.push_back(process->pid);
    resolved.emplace_back(std::move(target), std::move(process));
  }

  BpfOptions bpf_options;
  bpf_options.ringbuf_bytes = options_.ringbuf_bytes;
  bpf_options.wakeup_bytes = options_.wakeup_bytes;
  bpf_options.verbose = options_.verbose;
  bpf_ = BpfSession::open(bpf_options, error);
  if (!bpf_) return kExitBpf;
  log(describe_plan(bpf_->kernel_release(), bpf_->kernel_plan()));
  if (!bpf_->attach_socket_tracepoints(error)) return kExitBpf;

  // What observing costs on this kernel, measured before any probe fires (agent/overhead.h).
  // Both need privilege the agent drops below: BPF_ENABLE_STATS needs CAP_SYS_ADMIN, and the
  // calibration attaches a uprobe to this binary.
  std::string why;
  bpf_stats_ = BpfStatsSession::enable(&why);
  if (!bpf_stats_) log("BPF run-time stats unavailable (" + why + "): overhead estimates count traps only");
  if (auto trap = calibrate_trap_cost(&why)) {
    trap_ns_ = trap->ns_per_hit;
    log("uprobe trap cost on this kernel: " + std::to_string(std::lround(trap_ns_)) + " ns per hit");
  } else {
    trap_ns_ = 5000;  // design.md: 3-9 us on the VMs measured
    log("cannot calibrate the uprobe trap cost (" + why + "): assuming 5000 ns per hit");
  }

  std::vector<std::string> probe_names(DWCP_MAX_PROBES);
  for (const auto& probe : profile_.probes) {
    probe_names[probe.probe_id] = probe.event;
    if (!bpf_->set_spec(2u * probe.probe_id, probe.entry, error)) return kExitBpf;
    if (probe.has_exit && !bpf_->set_spec(2u * probe.probe_id + 1, probe.exit, error)) return kExitBpf;
  }
  // Per-stream bytes from DWCP's own counters (agent/stream_reader.h): the BPF side reads the
  // stream table at each Close with the profile's layout.
  if (const auto& layout = profile_.session_layout) {
    dwcp_stream_layout kernel_layout{1, DWCP_MAX_SESSION_STREAMS, layout->streams_off, layout->stream_id_off,
                                     layout->sent_off, layout->recv_off};
    if (!bpf_->set_stream_layout(kernel_layout, error)) return kExitBpf;
  } else {
    log("profile '" + profile_.name + "' declares no AMST session layout (types transport.MultiStreamTCP "
        "and transport.StreamConn): per-stream bytes come from chunk probes only, if it has any");
  }
  session_metrics_ = std::make_shared<SessionMetrics>();
  observer_ = std::make_shared<ObserverMetrics>(bpf_.get(), std::move(probe_names));
  observer_->set_trap_cost(trap_ns_ * 1e-9);
  models_ = std::make_shared<ModelRegistry>();

  const bool labelled = options_.targets.size() > 1;
  bool may_reattach = options_.follow || options_.discover;
  for (auto& [target, process] : resolved) {
    ModelOptions model_options;
    model_options.cluster = options_.cluster;
    model_options.node = options_.node;
    model_options.max_label_values = options_.max_label_values;
    if (labelled) model_options.target_labels = {{"target", target->spec.label}};
    target->model = std::make_unique<MetricsModel>(models_, model_options);
    may_reattach |= !target->spec.comm.empty() || !target->spec.exe.empty();
    if (process) {
      int code = attach(*target, *process, error);
      if (code != kExitOk && !(code == kExitTarget && follows(*target) && !loader_->stuck().empty())) return code;
      // A follower whose executable read is stuck: readiness says so, the next process is awaited.
      if (code != kExitOk) {
        log(*error);
        target->rejected = std::make_pair(process->pid, process->start_time);
      }
    } else {
      log("waiting for a process matching " + target->spec.label + " to start");
    }
    targets_.push_back(std::move(target));
  }

  // Privilege separation (agent/http_child.h, docs/security.md): the HTTP server runs in a
  // process of its own, started while this one is still privileged (it binds and reads the TLS
  // files, then drops to --user/--group with no capability); then this one drops to the same
  // uid keeping only what it still needs. A port in use still fails fast: the destructor
  // detaches what was attached.
  HttpOptions http_options;
  http_options.listen_address = options_.listen;
  http_options.basic_auth_user = options_.basic_auth_user;
  http_options.basic_auth_password = options_.basic_auth_password;
  http_options.basic_auth_users = options_.basic_auth_users;
  http_options.tls = options_.tls;
  // Slow clients: each idle connection holds a worker for at most the request timeout, so many
  // cheap workers and a short timeout keep scrapes answered (docs/troubleshooting.md, slow clients).
  http_options.threads = 64;
  http_options.request_timeout_ms = 2000;
  process_metrics_ = std::make_shared<http::ProcessCollector>();  // this process's process_*
  const RunAs run_as = options_.run_as.value_or(RunAs{0, 0, "root"});
  http_ = HttpChild::start(http_options, run_as,
                           {models_, observer_, session_metrics_->registry(), process_metrics_, refusals_}, error);
  if (!http_) return kExitListen;
  log("HTTP process " + std::to_string(http_->pid()) + " serves " + http_->address() + " as " + http_->credentials());

  // Still a single thread here (but for a given-up read): every thread started from now on
  // (the HTTP answerer, the consumer) inherits the reduced credentials.
  CapabilityNeeds needs;
  needs.reattach = may_reattach || options_.probe_budget > 0 ||  // demotion re-attaches
                   map_reads_need_cap_bpf();                      // kernels before 5.19 (kernel_features.h)
  needs.reattach_opens_perf_events = bpf_->kernel_plan().uprobe_links == UprobeLinks::kClassic;
  needs.run_as = options_.run_as;
  std::vector<std::string> kept;
  std::string drop_error;
  if (drop_capabilities_after_attach(needs, &kept, &drop_error))
    log("capabilities after attach: " + (kept.empty() ? std::string("none") : join(kept, ", ")) + "; " +
        describe_credentials());
  else
    log("warning: could not drop capabilities after attach: " + drop_error);
  http_->serve();
  update_readiness();
  if (discovery_)
    log("discovery: watching every process for the package " + profile_.package + " (executables owned by root, "
        "not writable by group or others" +
        (options_.policy.allow_uids.empty() ? "" : ", --allow-uid") + (options_.policy.allow_paths.empty() ? "" : ", --allow-path") +
        (options_.policy.allow_build_ids.empty() ? "" : ", --allow-build-id") + "), at most " +
        std::to_string(DWCP_MAX_TARGETS) + " at once");
  return kExitOk;
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
  std::string why = discovery_ && targets_.empty() ? "no DWCP process discovered yet" : "";
  for (const auto& target : targets_) {
    std::string state;
    if (target->process) {
      any = true;
      state = "ready (pid " + std::to_string(target->process->pid) + ", " + std::to_string(target->sites) +
              " uprobes)";
    } else if (target->build_id.empty()) {
      state = "not attached yet (waiting for a process matching " + target->spec.label + ")";
    } else {
      state = follows(*target) ? "target exited; waiting for a successor" : "target exited (not following it)";
    }
    why += (why.empty() ? "" : "; ") + target->spec.label + ": " + state;
  }
  http_->set_ready(any, any ? "" : "no target attached: " + why);
}

// 63 probes of a few RETs each need a few hundred; a binary that makes us place more is refused.
constexpr std::size_t kMaxSitesPerProcess = 4096;

Agent::SiteScan Agent::scan_sites(const goelf::GoBinary& binary, const goelf::DwarfTypes* dwarf) const {
  SiteScan scan;
  const std::vector<std::string> names = binary.function_names();  // sorted
  scan.holds_package = goelf::holds_package(names, profile_.package);
  for (const auto& probe : profile_.probes) {
    if (demoted_.count(probe.probe_id)) continue;  // detached by --probe-budget, for good
    auto refuse = [&](const std::string& why) {
      scan.refused.push_back(probe.function + " (" + why + ")");
      scan.states.emplace_back(probe.event, "refused");
    };
    auto fn = binary.find_function(probe.symbol);
    if (!fn) {
      // Named in the binary but not placeable with certainty (the name tables disagree, a name
      // shared by several functions, ...): refuse this probe with the resolver's reason and keep
      // the others. Absent altogether: a build whose program never calls it (Go's linker drops
      // unreachable functions), a state of the probe, not an error.
      if (std::binary_search(names.begin(), names.end(), probe.symbol)) {
        refuse(fn.error());
      } else {
        scan.absent.push_back(probe.function);
        scan.states.emplace_back(probe.event, "absent");
      }
      continue;
    }
    if (dwarf) {
      if (std::string conflict = field_offset_conflict(probe.field_offsets, *dwarf); !conflict.empty()) {
        refuse(conflict);
        continue;
      }
    }
    std::vector<std::uint64_t> rets;
    if (probe.has_exit) {
      auto found = binary.ret_offsets(*fn);
      if (!found) {
        refuse("no return sites: " + found.error());
        continue;
      }
      rets = std::move(found.value());
    }
    // Every site is a uprobe in the target: bound them whatever the binary claims.
    if (scan.sites.size() + 1 + rets.size() > kMaxSitesPerProcess) {
      refuse("its " + std::to_string(1 + rets.size()) + " uprobe sites would exceed " +
             std::to_string(kMaxSitesPerProcess) + " per process");
      continue;
    }
    scan.sites.push_back({fn->file_offset, 2u * probe.probe_id});
    for (auto ret : rets) scan.sites.push_back({ret, 2u * probe.probe_id + 1});
    scan.live_features.insert(probe.feature);
    scan.states.emplace_back(probe.event, "attached");
  }
  return scan;
}

int Agent::attach(Target& target, const ProcessInfo& process, std::string* error) {
  LoadOutcome outcome = loader_->load({process.pid, process.exe, profile_.package, false}, options_.stop);
  if (!outcome.loaded) {
    *error = "cannot read the binary of process " + std::to_string(process.pid) + " (" + process.exe_link +
             "): " + outcome.error;
    return kExitTarget;
  }
  return attach_loaded(target, process, *outcome.loaded, error);
}

int Agent::attach_loaded(Target& target, const ProcessInfo& found, LoadedExecutable& loaded, std::string* error) {
  // One identity from read to attach: symbols were read through this file descriptor, the
  // uprobes go through it too ("/proc/self/fd/N"), whatever /proc/PID/exe names by now.
  ProcessInfo process = found;
  process.executable = loaded.file;
  process.binary_path = loaded.file->path();
  const Result<goelf::GoBinary>& binary = loaded.binary;
  if (binary) {
    if (Refusal refusal = check_build_id(options_.policy, binary->gnu_build_id(), binary->go_build_id());
        refusal != Refusal::kNone) {
      refusals_->refuse(refusal, process.exe, "process " + std::to_string(process.pid) + " (" + process.exe_link + ")");
      *error = "process " + std::to_string(process.pid) + " (" + process.exe_link + ") has build id " +
               binary->build_id() + ", which --allow-build-id does not list";
      return kExitTarget;
    }
  }
  SiteScan scan;
  std::optional<profile::SessionLayout> layout = profile_.session_layout;
  std::string layout_conflict;
  if (binary) {
    // Without DWARF (a stripped build) the profile's offsets are all there is.
    scan = scan_sites(*binary, loaded.dwarf ? &*loaded.dwarf : nullptr);
    if (layout && loaded.dwarf) layout_conflict = field_offset_conflict(layout->field_offsets, *loaded.dwarf);
    // A DWARF bomb refused by goelf's cap says so here (stripped builds say they have none).
    if (!loaded.dwarf && loaded.has_package) log("profile offsets not checked against DWARF: " + loaded.dwarf.error());
  }
  const std::vector<std::string>& refused = scan.refused;
  const std::vector<std::string>& absent = scan.absent;
  const std::vector<UprobeSite>& sites = scan.sites;
  const std::set<std::string>& live_features = scan.live_features;
  // The budget may have detached every probe: a successor then gets socket counters only.
  const bool budget_emptied = sites.empty() && !demoted_.empty();
  // Decide before touching the kernel. A build that holds only some of the profile's functions
  // (a program that never receives has no Receive) gets what it has; a process is refused only
  // when nothing at all can be placed (configs/probes/README.md).
  const std::string who = "process " + std::to_string(process.pid) + " (" + process.exe_link + ")";
  if (!options_.sockets_only && !budget_emptied && sites.empty()) {
    if (!binary) {
      *error = "cannot read the binary of " + who + ": " + binary.error();
    } else if (!scan.holds_package) {
      std::vector<std::string> functions;
      for (const auto& probe : profile_.probes) functions.push_back(probe.function);
      *error = who + " has none of the symbols of profile '" + profile_.name + "': no function of package " +
               profile_.package + " (the profile probes " + join(functions, ", ") +
               ") — is this a DWCP process? Use --profile for another build, or --sockets-only to serve "
               "kernel-side socket metrics only";
      // A Go binary without a usable name table: say why, "none of the symbols" alone misleads.
      if (binary->is_go() && !binary->has_symtab() && !binary->has_pclntab())
        *error += ". Its Go function table (.gopclntab) cannot be used: " + binary->pclntab_error() +
                  " — the binary is damaged or from an unsupported Go version";
    } else {
      *error = who + " has none of the symbols of profile '" + profile_.name + "' in a form it can probe";
      if (!absent.empty()) *error += "; absent from this build: " + join(absent, ", ");
      if (!refused.empty()) *error += "; refused: " + join(refused, "; ");
      *error += " — is it another build of " + profile_.package +
                "? Use --profile for it, or --sockets-only to serve kernel-side socket metrics only";
    }
    return kExitSymbols;
  }
  std::string attach_error;
  std::vector<Link> links = bpf_->attach_uprobes(process.pid, process.binary_path, sites, &attach_error);
  if (links.empty() && !sites.empty()) {
    *error = attach_error;
    return kExitBpf;
  }
  // The probes sit on the inode that was read. A process that execve()d meanwhile (into a
  // setuid program, say) no longer runs it: it is not the target that was judged and read.
  if (!still_runs_pinned_file(process)) {
    links.clear();
    *error = who + " no longer runs the file that was read (it execve()d another program, or exited, while being "
             "attached): probes removed, nothing attached";
    return kExitTarget;
  }
  if (!absent.empty())
    log(who + ": probes absent, functions not in this build of " + profile_.package + ": " + join(absent, ", "));
  if (!refused.empty()) log(who + ": probes refused: " + join(refused, "; "));

  if (!bpf_->add_target(static_cast<std::uint32_t>(process.pid), error)) return kExitBpf;
  target.links = std::move(links);
  target.sites = sites.size();
  target.process = process;
  target.decoder = EventDecoder(options_.link_capacity_bps);
  if (!layout_conflict.empty()) {
    log(who + ": per-stream AMST bytes not read: " + layout_conflict);
    layout.reset();
  }
  target.sessions = std::make_unique<SessionTracker>(std::make_unique<ProcessMemory>(process.pid), layout,
                                                     session_metrics_->target(static_cast<std::uint32_t>(process.pid)),
                                                     [this, who](const std::string& m) { log(who + ": " + m); });
  target.decoder.set_sessions(target.sessions.get());
  target.bandwidth_at = {};

  ObservedProcess observed;
  observed.pid = static_cast<std::uint32_t>(process.pid);
  observed.target = target.spec.label;
  observed.alive = true;
  observer_->set_target(observed, static_cast<int>(target.sites));
  observer_->set_probe_states(observed.pid, scan.states);

  std::set<std::string> profile_features;
  for (const auto& probe : profile_.probes) profile_features.insert(probe.feature);
  BinaryVersion version;
  if (binary) {
    // DWCP's own version: that of the module holding the profile's package (the main module, or
    // novacron's backend/core among the dependencies), never the Go toolchain's.
    const auto& info = binary->build_info();
    version = {goelf::module_version_of(info, profile_.package), info.vcs_revision, info.vcs_time};
  }
  for (const auto& e : attached_state_events(profile_features, live_features, version)) target.model->apply(e);
  std::string build_id = binary ? binary->build_id() : "";
  if (build_id.empty()) build_id = "unknown";
  // A new build (same path or not) was resolved from scratch above; say so, it explains why
  // probe counts or refusals may differ from the previous run.
  if (!target.build_id.empty() && target.build_id != build_id)
    log(who + " runs another build than its predecessor (build id " + target.build_id + " -> " + build_id +
        "): symbols resolved afresh");
  target.build_id = build_id;
  log("attached " + std::to_string(target.sites) + " uprobes to " + who + ", build id " + build_id);
  return kExitOk;
}

void Agent::detach(Target& target) {
  if (!target.process) return;
  const auto pid = static_cast<std::uint32_t>(target.process->pid);
  // Events already in the ring buffer belong to this process: count them before letting go.
  bpf_->poll(0, [this](const dwcp_event& e) { handle_event(e); });
  detach_links(&target.links);
  target.sites = 0;
  // The process is gone: figures its live sessions counted since the last read are lost (at
  // most one read interval); closed sessions' figures came final from BPF.
  target.decoder.set_sessions(nullptr);
  target.sessions.reset();
  dwcp_sock_stats last{};
  bpf_->sock_stats(pid, &last);
  observer_->mark_target_gone(pid, last);
  bpf_->remove_target(pid);
  for (const auto& e : detached_state_events()) target.model->apply(e);
  log("process " + std::to_string(pid) + " is gone (exited, or execve'd another program); probes detached");
  target.process.reset();
}

bool Agent::follows(const Target& target) const {
  return options_.follow || !target.spec.comm.empty() || !target.spec.exe.empty();
}

void Agent::attach_successor(Target& target, const ProcessInfo& process) {
  const auto identity = std::make_pair(process.pid, process.start_time);
  if (target.rejected == identity) return;  // said once already; wait for the next process
  std::string why;
  if (attach(target, process, &why) != kExitOk) {
    log("cannot attach to process " + std::to_string(process.pid) + ": " + why +
        " (not retried for this process; waiting for the next one)");
    target.rejected = identity;
  }
}

void Agent::check_lifecycle() {
  check_targets();
  update_readiness();
}

void Agent::check_targets() {
  for (auto& target : targets_) {
    if (!target->process || same_process_alive(*target->process)) continue;
    const ProcessInfo before = *target->process;
    detach(*target);
    if (!follows(*target)) continue;
    // execve() in place: the same process (PID and start time) now runs another program, which
    // may not match --comm/--exe any more. It is its own successor: resolve it again.
    std::string why;
    auto now = inspect_process(before.pid, &why);
    if (now && now->start_time == before.start_time) {
      if (Refusal refusal = check_candidate(options_.policy, now->exe, now->creds, now->exe_path);
          refusal != Refusal::kNone)
        refusals_->refuse(refusal, now->exe, "process " + std::to_string(now->pid) + " (" + now->exe_link + ")");
      else
        attach_successor(*target, *now);
    }
  }

  for (auto& target : targets_) {
    if (target->process || !follows(*target)) continue;
    // A process another target already observes is not a candidate: two targets following the
    // same command name must not end up on one process.
    std::vector<int> taken;
    for (const auto& other : targets_)
      if (other->process) taken.push_back(other->process->pid);
    if (auto process = find_allowed(target->spec.comm, target->spec.exe, taken)) attach_successor(*target, *process);
  }
}

std::optional<ProcessInfo> Agent::find_allowed(const std::string& comm, const std::string& exe,
                                               const std::vector<int>& exclude) {
  for (int pid : find_processes(comm, exe, exclude)) {
    std::string why;
    auto process = inspect_process(pid, &why);
    if (!process) continue;
    const Refusal refusal = check_candidate(options_.policy, process->exe, process->creds, process->exe_path);
    if (refusal == Refusal::kNone) return process;
    // A user's process named like the target is passed over, counted once per process.
    const auto key = std::make_pair(process->pid, process->start_time);
    if (refused_followers_.insert(key).second) {
      if (refused_followers_.size() > 4096) refused_followers_ = {key};
      refusals_->refuse(refusal, process->exe,
                        "process " + std::to_string(pid) + " (" + process->exe_link + ", comm " +
                            escape_for_log(process->comm) + ")");
    }
  }
  return std::nullopt;
}

void Agent::discover() {
  // A process whose read was stuck is judged again once that read has ended.
  const std::vector<int> still_stuck = loader_->stuck_pids();
  for (auto it = stuck_candidates_.begin(); it != stuck_candidates_.end();) {
    if (std::find(still_stuck.begin(), still_stuck.end(), *it) != still_stuck.end()) {
      ++it;
    } else {
      discovery_->forget(*it);
      it = stuck_candidates_.erase(it);
    }
  }
  std::vector<int> observed;
  for (const auto& target : targets_)
    if (target->process) observed.push_back(target->process->pid);
  for (ProcessInfo& process : discovery_->scan(observed)) {
    const std::string who = "process " + std::to_string(process.pid) + " (" + process.exe_link + ")";
    LoadOutcome outcome = loader_->load({process.pid, process.exe, profile_.package, true}, options_.stop);
    if (!outcome.loaded) {
      if (outcome.stopped) return;
      refusals_->refuse(outcome.refusal, process.exe, who + ": " + outcome.error);
      discovery_->settle(process, std::nullopt);
      if (outcome.refusal == Refusal::kStuck) stuck_candidates_.insert(process.pid);
      continue;
    }
    LoadedExecutable& loaded = *outcome.loaded;
    discovery_->settle(process, loaded.has_package);
    if (!loaded.has_package) continue;
    // A restart of a program seen before comes back to its target: its counters continue.
    Target* target = nullptr;
    for (auto& known : targets_)
      if (!known->process && !known->discovered_exe.empty() && known->discovered_exe == process.exe_path)
        target = known.get();
    if (!target) {
      if (targets_.size() >= DWCP_MAX_TARGETS) {
        refusals_->refuse(Refusal::kMaxTargets, process.exe, who);
        continue;
      }
      // `target` label: the executable's file name, made unique among the targets.
      std::string name = process.exe_path;
      if (auto deleted = name.rfind(" (deleted)"); deleted != std::string::npos && deleted + 10 == name.size())
        name.resize(deleted);
      name = escape_for_log(name.substr(name.rfind('/') + 1), 64);
      std::string label = name;
      for (int n = 2;; ++n) {
        bool taken = false;
        for (const auto& known : targets_) taken = taken || known->spec.label == label;
        if (!taken) break;
        label = name + "-" + std::to_string(n);
      }
      auto fresh = std::make_unique<Target>();
      fresh->spec.label = label;
      fresh->discovered_exe = process.exe_path;
      ModelOptions model_options;
      model_options.cluster = options_.cluster;
      model_options.node = options_.node;
      model_options.max_label_values = options_.max_label_values;
      model_options.target_labels = {{"target", label}};
      fresh->model = std::make_unique<MetricsModel>(models_, model_options);
      targets_.push_back(std::move(fresh));
      target = targets_.back().get();
      log("discovery: " + who + " holds " + profile_.package + ": observing it as target \"" + label + "\"");
    }
    std::string why;
    if (attach_loaded(*target, process, loaded, &why) != kExitOk)
      log("discovery: cannot attach to " + who + ": " + why + " (not retried for this process)");
  }
}

void Agent::handle_event(const dwcp_event& event) {
  for (auto& target : targets_) {
    if (!target->process || static_cast<std::uint32_t>(target->process->pid) != event.tgid) continue;
    observer_->count_event(event_kind_name(event.kind));
    scratch_events_.clear();
    target->decoder.decode(event, &scratch_events_);
    for (const auto& e : scratch_events_) target->model->apply(e);
    return;
  }
}

void Agent::run(const std::atomic<bool>& stop) {
  using clock = std::chrono::steady_clock;
  auto next_check = clock::now();
  auto next_overhead = clock::now() + options_.overhead_interval;
  auto next_bandwidth = clock::now();
  auto next_discovery = clock::now();
  auto next_streams = clock::now();
  account_overhead();  // baselines: hits, BPF run time and target CPU at the start
  const auto handler = [this](const dwcp_event& e) { handle_event(e); };
  while (!stop.load()) {
    // Records arrive without wake-ups below the threshold: a short poll is the drain timer.
    int n = bpf_->poll(50, handler);
    if (n < 0 && n != -EINTR) log("ring buffer poll failed: " + std::to_string(n));
    if (clock::now() >= next_overhead) {
      account_overhead();
      next_overhead = clock::now() + options_.overhead_interval;
    }
    if (clock::now() >= next_check) {
      check_lifecycle();
      next_check = clock::now() + std::chrono::milliseconds(200);
    }
    if (discovery_ && clock::now() >= next_discovery) {
      discover();
      next_discovery = clock::now() + options_.discovery_interval;
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
  bpf_->poll(0, handler);
}

// DWCP's per-stream counters of every live session, charged as deltas (agent/stream_reader.h).
void Agent::read_stream_counters() {
  for (auto& target : targets_) {
    if (!target->process || !target->sessions) continue;
    scratch_events_.clear();
    target->sessions->refresh(&scratch_events_);
    for (const auto& e : scratch_events_) target->model->apply(e);
  }
}

// AMST's bandwidth use is what the target's TCP sockets send, measured in the kernel; what is
// available is the link capacity the operator states (--link-capacity-mbps): nothing in the
// process tells it.
void Agent::sample_bandwidth() {
  if (options_.link_capacity_bps <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& target : targets_) {
    if (!target->process) continue;
    dwcp_sock_stats stats{};
    if (!bpf_->sock_stats(static_cast<std::uint32_t>(target->process->pid), &stats)) continue;
    const double elapsed = std::chrono::duration<double>(now - target->bandwidth_at).count();
    if (target->bandwidth_at != std::chrono::steady_clock::time_point{} && elapsed > 0 &&
        stats.bytes_sent >= target->bandwidth_bytes) {
      const double used_bps = static_cast<double>(stats.bytes_sent - target->bandwidth_bytes) * 8 / elapsed;
      target->model->apply(BandwidthUpdate{used_bps, options_.link_capacity_bps});
    }
    target->bandwidth_bytes = stats.bytes_sent;
    target->bandwidth_at = now;
  }
}

void Agent::relink(Target& target) {
  const ProcessInfo& process = *target.process;
  const std::string who = "process " + std::to_string(process.pid);
  auto binary = goelf::GoBinary::open(process.binary_path);
  if (!binary) {
    log("probe budget: cannot re-read the binary of " + who + " (" + binary.error() + "): probes unchanged");
    return;
  }
  auto dwarf = goelf::DwarfTypes::open(process.binary_path);
  SiteScan scan = scan_sites(*binary, dwarf ? &*dwarf : nullptr);
  // The old link goes first: with both attached for a moment, entry-only probes would count
  // twice and RET sites would report unmatched exits. Calls made in the few milliseconds
  // between are not seen.
  detach_links(&target.links);
  std::string why;
  if (!scan.sites.empty()) {
    target.links = bpf_->attach_uprobes(process.pid, process.binary_path, scan.sites, &why);
    if (target.links.empty()) log("probe budget: cannot re-attach the remaining probes to " + who + ": " + why);
  }
  target.sites = target.links.empty() ? 0 : scan.sites.size();
  ObservedProcess observed;
  observed.pid = static_cast<std::uint32_t>(process.pid);
  observed.target = target.spec.label;
  observed.alive = true;
  observer_->set_target(observed, static_cast<int>(target.sites));
  log("probe budget: " + std::to_string(target.sites) + " uprobes now attached to " + who);
}

void Agent::account_overhead() {
  BpfCounters counters;
  bpf_->counters(&counters);
  double bpf_ns_per_run = 0;
  ProgramRunStats run;
  if (bpf_->program_stats(&run.run_time_ns, &run.run_count)) {
    bpf_ns_per_run = ns_per_run(last_run_, run);
    last_run_ = run;
  }
  std::vector<ProbeInterval> intervals;
  for (const auto& probe : profile_.probes) {
    const std::uint32_t entry = 2u * probe.probe_id, exit = entry + 1;
    const std::uint64_t now = counters.spec_hits[entry] + counters.spec_hits[exit];
    const std::uint64_t before = last_counters_.spec_hits[entry] + last_counters_.spec_hits[exit];
    intervals.push_back({probe.event, now >= before ? now - before : 0});
  }
  last_counters_ = counters;

  // CPU time of the live targets over the interval; a target seen for the first time only
  // sets its baseline (its whole life's CPU against one interval's hits would mislead).
  double cpu = 0;
  bool complete = true;
  std::map<int, double> seen;
  for (const auto& target : targets_) {
    if (!target->process) continue;
    std::string why;
    auto seconds = process_cpu_seconds(target->process->pid, &why);
    if (!seconds) continue;
    auto it = last_cpu_seconds_.find(target->process->pid);
    if (it == last_cpu_seconds_.end())
      complete = false;
    else
      cpu += *seconds - it->second;
    seen[target->process->pid] = *seconds;
  }
  last_cpu_seconds_ = std::move(seen);

  BudgetPolicy policy;
  policy.max_share = options_.probe_budget;
  const BudgetDecision decision = ProbeBudget(policy).evaluate(intervals, trap_ns_, bpf_ns_per_run, cpu);
  observer_->add_probe_overhead(decision.costs);
  if (!complete) return;
  observer_->set_overhead_share(decision.share);
  if (decision.demote.empty()) return;

  for (const auto& name : decision.demote) {
    observer_->set_demoted(name);
    for (const auto& probe : profile_.probes)
      if (probe.event == name) demoted_.insert(probe.probe_id);
  }
  char share[96];
  std::snprintf(share, sizeof share, "%.1f %% of the targets' CPU over the last %lld s (budget %.1f %%)",
                100 * decision.share, static_cast<long long>(options_.overhead_interval.count()),
                100 * options_.probe_budget);
  log("probe budget: the uprobes cost an estimated " + std::string(share) + "; detaching " +
      join(decision.demote, ", ") + " (socket counters stay)");
  for (auto& target : targets_)
    if (target->process) relink(*target);
}


}  // namespace dwcp::agent
