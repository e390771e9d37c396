// Attaching one target: read its executable, plan the sites, attach, and detaching it again.
#include "agent/agent.h"

#include <map>
#include <set>
#include <string_view>

#include "agent/site_planner.h"
#include "agent/system_state.h"
#include "dwcp_observer/contract.h"
#include "goelf/dwarf_types.h"
#include "goelf/go_binary.h"

namespace dwcp::agent {

using profile::join;

Result<void> Agent::attach(Target& target, const ProcessInfo& process) {
  Result<LoadedExecutable> loaded = loader_->load({process.pid, process.exe, profile_.package, false}, options_.stop);
  if (!loaded)
    return Error{"cannot read the binary of process " + std::to_string(process.pid) + " (" + process.exe_link +
                     "): " + loaded.error(),
                 0, ErrorKind::kTarget};
  return attach_loaded(target, process, *loaded);
}

Result<void> Agent::attach_loaded(Target& target, const ProcessInfo& found, LoadedExecutable& loaded) {
  // One identity from read to attach: symbols were read through this file descriptor, the
  // uprobes go through it too ("/proc/self/fd/N"), whatever /proc/PID/exe names by now.
  ProcessInfo process = found;
  process.executable = loaded.file;
  process.binary_path = loaded.file->path();
  const Result<goelf::GoBinary>& binary = loaded.binary();
  if (binary) {
    if (Refusal refusal = check_build_id(options_.policy, binary->gnu_build_id(), binary->go_build_id());
        refusal != Refusal::kNone) {
      refusals_->refuse(refusal, process.exe, "process " + std::to_string(process.pid) + " (" + process.exe_link + ")");
      return Error{"process " + std::to_string(process.pid) + " (" + process.exe_link + ") has build id " +
                       binary->build_id() + ", which --allow-build-id does not list",
                   0, ErrorKind::kTarget};
    }
  }
  SitePlan scan;
  std::optional<profile::SessionLayout> layout = profile_.session_layout;
  std::string layout_conflict;
  // Planned before the DWARF is read (below, after the probes that do not depend on it are in).
  // The budget never detaches for good (it samples): every probe is planned.
  if (binary) scan = plan_sites(profile_, *binary, nullptr, {}, bpf_->kernel_plan().refuse_per_chunk_probes);
  const std::vector<std::string>& refused = scan.refused;
  const std::vector<std::string>& absent = scan.absent;
  const std::vector<UprobeSite>& sites = scan.sites;
  const std::set<std::string>& live_features = scan.live_features;
  // Decide before touching the kernel. A build that holds only some of the profile's functions
  // (a program that never receives has no Receive) gets what it has; a process is refused only
  // when nothing at all can be placed (configs/probes/README.md).
  const std::string who = "process " + std::to_string(process.pid) + " (" + process.exe_link + ")";
  if (!options_.sockets_only && sites.empty()) {
    std::string error;
    if (!binary) {
      error = "cannot read the binary of " + who + ": " + binary.error();
    } else if (!scan.holds_package) {
      std::vector<std::string> functions;
      for (const auto& probe : profile_.probes) functions.push_back(probe.function);
      error = who + " has none of the symbols of profile '" + profile_.name + "': no function of package " +
              profile_.package + " (the profile probes " + join(functions, ", ") +
              ") — is this a DWCP process? Use --profile for another build, or --sockets-only to serve "
              "kernel-side socket metrics only";
      // A Go binary without a usable name table: say why, "none of the symbols" alone misleads.
      if (binary->is_go() && !binary->has_symtab() && !binary->has_pclntab())
        error += ". Its Go function table (.gopclntab) cannot be used: " + binary->pclntab_error() +
                 " — the binary is damaged or from an unsupported Go version";
    } else {
      error = who + " has none of the symbols of profile '" + profile_.name + "' in a form it can probe";
      if (!absent.empty()) error += "; absent from this build: " + join(absent, ", ");
      if (!refused.empty()) error += "; refused: " + join(refused, "; ");
      error += " — is it another build of " + profile_.package +
               "? Use --profile for it, or --sockets-only to serve kernel-side socket metrics only";
    }
    return Error{error, 0, ErrorKind::kSymbols};
  }
  // The probes the budget may sample get links of their own (one per probe), the others share
  // one: a sampling window then never detaches Close and the other count-critical probes.
  std::vector<Link> links;
  std::map<std::uint32_t, SampledLinks> per_operation;
  auto attach_sites = [&](const std::vector<UprobeSite>& group_sites) -> Result<void> {
    std::vector<UprobeSite> kept_sites;
    std::set<std::uint32_t> sampled;
    for (const auto& site : group_sites) {
      const std::uint32_t probe_id = contract::probe_of_spec(site.spec_index);
      // probe_id is the index in the profile's "probes" (profile/profile.h).
      if (probe_id < profile_.probes.size() && budget_may_demote(profile_.probes[probe_id].kind)) {
        per_operation[probe_id].sites.push_back(site);
        sampled.insert(probe_id);
      } else {
        kept_sites.push_back(site);
      }
    }
    if (!kept_sites.empty()) {
      auto attached = bpf_->attach_uprobes(process.pid, process.binary_path, kept_sites);
      if (!attached) return attached.failure();
      for (auto& link : attached.value()) links.push_back(std::move(link));
    }
    for (const std::uint32_t probe_id : sampled) {
      // A sampled probe outside its window waits for the next one (end_sampling_windows), a probe
      // cut short for the next tick (check_interval_budget).
      if ((sample_ratio_.count(probe_id) && !window_end_.count(probe_id)) || cut_at_.count(probe_id)) continue;
      auto attached = bpf_->attach_uprobes(process.pid, process.binary_path, per_operation[probe_id].sites);
      if (!attached) return attached.failure();  // every link made so far is detached on the way out
      per_operation[probe_id].links = std::move(attached).value();
    }
    return {};
  };
  // First the probes that read no struct field at a profile offset: they do not depend on the
  // DWARF check, and a process that starts working at once after exec is counted from its first
  // call while a first sighting's DWARF is read (~14 ms of a 3.4 MB build).
  if (Result<void> attached = attach_sites(split_field_readers(profile_, sites).independent); !attached)
    return attached;
  // The probes sit on the inode that was read. A process that execve()d meanwhile (into a
  // setuid program, say) no longer runs it: it is not the target that was judged and read.
  if (!still_runs_pinned_file(process)) {
    links.clear();
    per_operation.clear();
    return Error{who +
                     " no longer runs the file that was read (it execve()d another program, or exited, while "
                     "being attached): probes removed, nothing attached",
                 0, ErrorKind::kTarget};
  }
  if (Result<void> added = bpf_->add_target(static_cast<std::uint32_t>(process.pid)); !added) return added;
  // Now the DWARF: a probe whose profile offsets it contradicts is refused instead of reading the
  // wrong bytes; without DWARF (a stripped build) the profile's offsets are all there is.
  const Result<goelf::DwarfTypes>& dwarf = loaded.dwarf();
  if (binary && dwarf) {
    refuse_dwarf_conflicts(&scan, profile_, *dwarf);
    if (layout) {
      if (auto agrees = field_offset_conflict(layout->field_offsets, *dwarf); !agrees) layout_conflict = agrees.error();
      const auto dropped = drop_fields_dwarf_lacks(&*layout, *dwarf);
      if (!dropped.empty())
        log_.info("this build has no " + join(dropped, ", ") + " (DWARF): the agent does not read them in process " +
                  std::to_string(process.pid));
    }
  }
  // A DWARF bomb refused by goelf's cap says so here (stripped builds say they have none).
  if (binary && !dwarf && loaded.has_package) log_.info("profile offsets not checked against DWARF: " + dwarf.error());
  // Split again: `sites` is the plan as the DWARF check left it (its refused probes are gone).
  Result<void> checked = attach_sites(split_field_readers(profile_, sites).field_readers);
  if (checked && !options_.sockets_only && sites.empty())
    checked = Error{who + " has none of the symbols of profile '" + profile_.name +
                        "' in a form it can probe; refused: " + join(refused, "; "),
                    0, ErrorKind::kSymbols};
  if (!checked) {
    bpf_->remove_target(static_cast<std::uint32_t>(process.pid));
    return checked;
  }
  if (!absent.empty())
    log_.info(who + ": probes absent, functions not in this build of " + profile_.package + ": " + join(absent, ", "));
  if (!refused.empty()) log_.info(who + ": probes refused: " + join(refused, "; "));

  Attachment attachment;
  attachment.process = process;
  attachment.links = std::move(links);
  attachment.per_operation = std::move(per_operation);
  attachment.sites = sites.size();
  attachment.probe_states = scan.states;
  attachment.link_capacity_bps = options_.link_capacity_bps;
  if (!layout_conflict.empty()) {
    log_.info(who + ": per-stream AMST bytes not read: " + layout_conflict);
    layout.reset();
  }
  // The readers' lines name the target, at the level each line says.
  const log::Logger target_log(
      [this, who](log::Level level, const std::string& m) { log_.log(level, who + ": " + m); });
  attachment.sessions =
      std::make_unique<SessionTracker>(std::make_unique<ProcessMemory>(process.pid), layout,
                                       session_metrics_->target(static_cast<std::uint32_t>(process.pid)), target_log);
  // The kernel's check of DWCP's stream counters (agent/stream_sockets.h), when they are read.
  if (layout) {
    attachment.consistency = std::make_unique<StreamConsistency>(
        process.pid, std::make_unique<ProcessMemory>(process.pid), std::make_unique<BpfSocketCounters>(*bpf_),
        consistency_metrics_->target(static_cast<std::uint32_t>(process.pid)), target_log);
    attachment.sessions->set_consistency(attachment.consistency.get());
  }
  // DWCP's DeltaEncoder totals (agent/encoder_reader.h), unless the binary's DWARF says the
  // profile's offsets are another build's.
  if (profile_.encoder_layout) {
    const Result<void> agrees =
        dwarf ? field_offset_conflict(profile_.encoder_layout->field_offsets, *dwarf) : Result<void>();
    if (agrees) {
      attachment.encoders = std::make_unique<EncoderTracker>(std::make_unique<ProcessMemory>(process.pid),
                                                             *profile_.encoder_layout, target_log);
    } else {
      log_.info(who + ": delta encoder totals not read (Encode events count instead): " + agrees.error());
    }
  }
  target.attach(std::move(attachment));

  publish_sites(target);

  std::set<std::string> profile_features;
  for (const auto& probe : profile_.probes) profile_features.insert(probe.feature);
  BinaryVersion version;
  if (binary) {
    // DWCP's own version: that of the module holding the profile's package (the main module, or
    // novacron's backend/core among the dependencies), never the Go toolchain's.
    const auto& info = binary->build_info();
    version = {goelf::module_version_of(info, profile_.package), info.vcs_revision, info.vcs_time};
  }
  for (const auto& e : attached_state_events(profile_features, live_features, version)) target.model().apply(e);
  std::string build_id = binary ? binary->build_id() : "";
  if (build_id.empty()) build_id = "unknown";
  // A new build (same path or not) was resolved from scratch above; say so, it explains why
  // probe counts or refusals may differ from the previous run.
  if (!target.build_id().empty() && target.build_id() != build_id)
    log_.info(who + " runs another build than its predecessor (build id " + target.build_id() + " -> " + build_id +
              "): symbols resolved afresh");
  target.set_build_id(build_id);
  log_.info("attached " + std::to_string(target.sites()) + " uprobes to " + who + ", build id " + build_id);
  early_tick_ = std::chrono::steady_clock::now();  // its CPU baseline now, its first decision 1 s later
  return {};
}

void Agent::publish_sites(const Target& target) {
  std::set<std::string> sampled;
  for (const auto& probe_id : sampled_or_cut())
    if (probe_id < profile_.probes.size()) sampled.insert(profile_.probes[probe_id].event);
  ObservedProcess observed;
  observed.pid = static_cast<std::uint32_t>(target.process()->pid);
  observed.target = target.label();
  observed.alive = true;
  observer_->set_target(observed, static_cast<int>(target.sites()));
  observer_->set_probe_states(observed.pid, target.probe_states(sampled));
}

void Agent::detach(Target& target, bool exited) {
  if (!target.attached()) return;
  const auto pid = static_cast<std::uint32_t>(target.process()->pid);
  // Events already in the ring buffer belong to this process: count them before letting go.
  (void)bpf_->poll(0, [this](const dwcp_event& e) { handle_event(e); });  // a failure loses only these events
  // The process is gone: figures its live sessions counted since the last read are lost (at
  // most one read interval); closed sessions' figures came final from BPF.
  std::vector<Link> links = target.detach();
  // A process that ended runs nothing any more: its links go off the loop (BpfSession::retire),
  // and the next exec is judged without waiting for their grace periods. One that execve()d
  // may run the same file again, and its successor is attached right after this: two sets of
  // probes on one process would count each call twice, so its links are gone before.
  if (exited)
    bpf_->retire(std::move(links));
  else
    detach_links(&links);
  dwcp_sock_stats last{};
  bpf_->sock_stats(pid, &last);
  observer_->mark_target_gone(pid, last);
  // Its socket program runs since the last overhead tick still count there (agent_budget.cpp).
  if (auto it = last_socket_runs_.find(static_cast<int>(pid)); it != last_socket_runs_.end()) {
    if (socket_program_runs(last) >= it->second) gone_socket_runs_ += socket_program_runs(last) - it->second;
    last_socket_runs_.erase(it);
  }
  bpf_->remove_target(pid);
  for (const auto& e : detached_state_events()) target.model().apply(e);
  log_.info("process " + std::to_string(pid) + " is gone (exited, or execve'd another program); probes detached");
}

bool Agent::follows(const Target& target) const {
  return options_.follow || !target.spec().comm.empty() || !target.spec().exe.empty();
}

void Agent::attach_successor(Target& target, const ProcessInfo& process) {
  if (target.rejected(process)) return;  // said once already; wait for the next process
  if (Result<void> attached = attach(target, process); !attached) {
    log_.info("cannot attach to process " + std::to_string(process.pid) + ": " + attached.error() +
              " (not retried for this process; waiting for the next one)");
    target.reject(process);
  }
}

}  // namespace dwcp::agent
