#include "agent/observer_metrics.h"

#include <algorithm>

#include "agent/decoder.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/version.h"

namespace dwcp::agent {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric metric(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

}  // namespace

ObserverMetrics::ObserverMetrics(const BpfSession* bpf, std::vector<std::string> probe_names)
    : bpf_(bpf), probe_names_(std::move(probe_names)), registry_(std::make_shared<prometheus::Registry>()) {
  probe_names_.resize(DWCP_MAX_PROBES);
  probe_names_[DWCP_PROBE_ID_SOCKET] = "socket";
  prometheus::BuildGauge()
      .Name("dwcp_observer_build_info")
      .Help("dwcp-observer build; value 1")
      .Register(*registry_)
      .Add({{"version", DWCP_OBSERVER_VERSION}, {"revision", DWCP_OBSERVER_REVISION}})
      .Set(1);
  events_total_ = &prometheus::BuildCounter()
                       .Name("dwcp_observer_events_total")
                       .Help("Events decoded from the BPF ring buffer, by kind")
                       .Register(*registry_);
  target_up_ = &prometheus::BuildGauge()
                    .Name("dwcp_observer_target_up")
                    .Help("1 while the observed DWCP process is alive and probed, else 0")
                    .Register(*registry_);
  probes_attached_ = &prometheus::BuildGauge()
                          .Name("dwcp_observer_probes_attached")
                          .Help("Uprobes currently attached to the target (entry and RET sites)")
                          .Register(*registry_);
  probe_overhead_ = &prometheus::BuildCounter()
                         .Name("dwcp_observer_probe_overhead_seconds_total")
                         .Help(
                             "Estimated time the targets spent in this probe: hits x (uprobe trap cost "
                             "calibrated at start-up + mean BPF run time per hit from the kernel's BPF stats); "
                             "probe=\"socket\": the socket and TCP programs' run time, by the targets' share "
                             "of their runs")
                         .Register(*registry_);
  probe_demoted_ = &prometheus::BuildGauge()
                        .Name("dwcp_observer_probe_demoted")
                        .Help(
                            "1 while --probe-budget samples this probe (attached only part of every interval, "
                            "dwcp_observer_probe_sample_ratio), else 0; never detached for good")
                        .Register(*registry_);
  probe_state_ = &prometheus::BuildGauge()
                      .Name("dwcp_observer_probe_state")
                      .Help(
                          "1 for the state each profile probe is in for a target process: attached, sampled "
                          "(attached part of every interval by --probe-budget), absent (the function is not "
                          "in this build) or refused (present, address not vouched for)")
                      .Register(*registry_);
  sample_ratio_ = &prometheus::BuildGauge()
                       .Name("dwcp_observer_probe_sample_ratio")
                       .Help(
                           "Share of every --probe-budget-interval the probe is attached: 1 unless the budget "
                           "samples it; counts fed by a sampled probe cover only that share")
                       .Register(*registry_);
  trap_cost_ = &prometheus::BuildGauge()
                    .Name("dwcp_observer_uprobe_trap_seconds")
                    .Help("Cost of one uprobe hit on this kernel (empty BPF program), calibrated at start-up")
                    .Register(*registry_)
                    .Add({});
  // Present from the first scrape (0 until a target is attached): readiness means "serving", so
  // this is how "observes nothing" shows (DWCPObserverTargetDown).
  targets_attached_ = &prometheus::BuildGauge()
                           .Name("dwcp_observer_targets_attached")
                           .Help("Targets with an attached DWCP process now (0: serving, observing nothing)")
                           .Register(*registry_)
                           .Add({});
  overhead_share_ = &prometheus::BuildGauge()
                         .Name("dwcp_observer_probe_overhead_ratio")
                         .Help(
                             "Estimated share of the targets' CPU time (utime + stime), or of one core when "
                             "they used less, spent in the uprobes and the socket programs over the last "
                             "overhead interval")
                         .Register(*registry_)
                         .Add({});
  for (std::size_t probe = 0; probe < probe_names_.size(); ++probe) {
    if (probe_names_[probe].empty() || probe == DWCP_PROBE_ID_SOCKET) continue;
    probe_overhead_->Add({{"probe", probe_names_[probe]}});
    probe_demoted_->Add({{"probe", probe_names_[probe]}}).Set(0);
    sample_ratio_->Add({{"probe", probe_names_[probe]}}).Set(1);
  }
  probe_overhead_->Add({{"probe", probe_names_[DWCP_PROBE_ID_SOCKET]}});  // never sampled: no ratio
  // Every kind at zero from the first scrape, so rate() works at once.
  for (std::uint16_t kind = DWCP_EV_NONE + 1; kind < DWCP_EV_KIND_COUNT; ++kind)
    event_counters_[event_kind_name(kind)] = &events_total_->Add({{"kind", event_kind_name(kind)}});
}

void ObserverMetrics::count_event(const char* kind) {
  auto it = event_counters_.find(kind);
  if (it == event_counters_.end()) it = event_counters_.emplace(kind, &events_total_->Add({{"kind", kind}})).first;
  it->second->Increment();
}

void ObserverMetrics::set_target(const ObservedProcess& process, int probes_attached) {
  const std::string pid = std::to_string(process.pid);
  std::lock_guard<std::mutex> lock(processes_mutex_);
  // A restarted target replaces its predecessor: a stale target_up == 0 series would keep the
  // target-down alert firing for a process that is back.
  for (auto it = processes_.begin(); it != processes_.end();) {
    if (it->first != process.pid && it->second.target == process.target) {
      const std::string old_pid = std::to_string(it->first);
      target_up_->Remove(&target_up_->Add({{"pid", old_pid}, {"target", process.target}}));
      probes_attached_->Remove(&probes_attached_->Add({{"pid", old_pid}}));
      for (auto* gauge : probe_state_series_[it->first]) probe_state_->Remove(gauge);
      probe_state_series_.erase(it->first);
      it = processes_.erase(it);
    } else {
      ++it;
    }
  }
  target_up_->Add({{"pid", pid}, {"target", process.target}}).Set(process.alive ? 1 : 0);
  probes_attached_->Add({{"pid", pid}}).Set(probes_attached);
  auto& known = processes_[process.pid];
  dwcp_sock_stats kept = known.last_stats;
  known = process;
  known.last_stats = kept;
}

void ObserverMetrics::mark_target_gone(std::uint32_t pid, const dwcp_sock_stats& last) {
  std::lock_guard<std::mutex> lock(processes_mutex_);
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  it->second.alive = false;
  it->second.last_stats = last;
  target_up_->Add({{"pid", std::to_string(pid)}, {"target", it->second.target}}).Set(0);
  probes_attached_->Add({{"pid", std::to_string(pid)}}).Set(0);
  // No probe of a gone process is in any state.
  for (auto* gauge : probe_state_series_[pid]) probe_state_->Remove(gauge);
  probe_state_series_.erase(pid);
}

void ObserverMetrics::set_trap_cost(double seconds_per_hit) { trap_cost_->Set(seconds_per_hit); }

void ObserverMetrics::add_probe_overhead(const std::vector<ProbeCost>& costs) {
  for (const auto& cost : costs)
    if (cost.seconds > 0) probe_overhead_->Add({{"probe", cost.probe}}).Increment(cost.seconds);
}

void ObserverMetrics::set_overhead_share(double share) { overhead_share_->Set(share); }

void ObserverMetrics::set_targets_attached(int count) { targets_attached_->Set(count); }

void ObserverMetrics::set_probe_states(std::uint32_t pid,
                                       const std::vector<std::pair<std::string, const char*>>& states) {
  static const char* const kStates[] = {"attached", "sampled", "absent", "refused"};
  std::lock_guard<std::mutex> lock(processes_mutex_);
  auto& series = probe_state_series_[pid];
  for (auto* gauge : series) probe_state_->Remove(gauge);
  series.clear();
  for (const auto& [probe, state] : states) {
    for (const char* name : kStates) {
      auto* gauge = &probe_state_->Add({{"pid", std::to_string(pid)}, {"probe", probe}, {"state", name}});
      gauge->Set(std::string_view(state) == name ? 1 : 0);
      series.push_back(gauge);
    }
  }
}

void ObserverMetrics::set_sampling(const std::map<std::uint32_t, double>& ratios,
                                   const std::set<std::uint32_t>& edges) {
  for (std::size_t probe = 0; probe < probe_names_.size(); ++probe) {
    if (probe_names_[probe].empty() || probe == DWCP_PROBE_ID_SOCKET) continue;
    auto r = ratios.find(static_cast<std::uint32_t>(probe));
    sample_ratio_->Add({{"probe", probe_names_[probe]}}).Set(r == ratios.end() ? 1.0 : r->second);
    probe_demoted_->Add({{"probe", probe_names_[probe]}}).Set(r == ratios.end() ? 0 : 1);
  }
  BpfCounters counters;
  if (bpf_) bpf_->counters(&counters);
  std::lock_guard<std::mutex> lock(edges_mutex_);
  for (std::uint32_t probe = 0; probe < DWCP_MAX_PROBES; ++probe) {
    const std::uint64_t unmatched = counters.drops[probe][DWCP_DROP_UNMATCHED_EXIT];
    const bool open = edges.count(probe) > 0;
    auto it = edges_.find(probe);
    if (it == edges_.end()) {
      if (open) edges_[probe] = {true, unmatched, 0};
      continue;
    }
    Edges& e = it->second;
    if (e.open && !open) e.moved += unmatched - std::min(unmatched, e.base);
    if (!e.open && open) e.base = unmatched;
    e.open = open;
  }
}

std::vector<MetricFamily> ObserverMetrics::Collect() const {
  std::vector<MetricFamily> families = registry_->Collect();

  struct SockFamily {
    const char* name;
    const char* help;
    __u64 dwcp_sock_stats::*field;
  };
  static const SockFamily kSock[] = {
      {"dwcp_observer_tcp_bytes_sent_total",
       "Bytes the target's TCP sockets accepted for sending (sock:sock_send_length, or fexit tcp_sendmsg before 6.3)",
       &dwcp_sock_stats::bytes_sent},
      {"dwcp_observer_tcp_bytes_received_total",
       "Bytes the target read from its TCP sockets (sock:sock_recv_length, or fexit tcp_recvmsg before 6.3)",
       &dwcp_sock_stats::bytes_received},
      {"dwcp_observer_tcp_retransmits_total",
       "TCP segments retransmitted on the target's sockets (tcp:tcp_retransmit_skb)", &dwcp_sock_stats::retransmits},
      {"dwcp_observer_tcp_connections_opened_total",
       "TCP connections the target dialled or accepted that reached ESTABLISHED (inet_sock_set_state; each end charged "
       "to the socket's owner)",
       &dwcp_sock_stats::connections_opened},
      {"dwcp_observer_tcp_connections_closed_total", "TCP connections of the target that reached CLOSE",
       &dwcp_sock_stats::connections_closed},
  };

  std::map<std::uint32_t, ObservedProcess> processes;
  {
    std::lock_guard<std::mutex> lock(processes_mutex_);
    for (auto& [pid, process] : processes_) {
      dwcp_sock_stats now{};
      if (process.alive && bpf_ && bpf_->sock_stats(pid, &now)) process.last_stats = now;
    }
    processes = processes_;
  }

  for (const auto& sock : kSock) {
    MetricFamily family{sock.name, sock.help, MetricType::Counter, {}};
    for (const auto& [pid, process] : processes)
      family.metric.push_back(metric({{"pid", std::to_string(pid)}},
                                     static_cast<double>(process.last_stats.*sock.field), MetricType::Counter));
    families.push_back(std::move(family));
  }
  MetricFamily resets{"dwcp_observer_tcp_resets_total",
                      "TCP resets on the target's sockets (tcp:tcp_send_reset, tcp:tcp_receive_reset)",
                      MetricType::Counter,
                      {}};
  MetricFamily srtt{"dwcp_observer_tcp_srtt_seconds",
                    "Mean smoothed RTT of the target's TCP sockets over tcp:tcp_probe samples",
                    MetricType::Gauge,
                    {}};
  for (const auto& [pid, process] : processes) {
    const std::string p = std::to_string(pid);
    resets.metric.push_back(
        metric({{"pid", p}, {"direction", "sent"}}, process.last_stats.resets_sent, MetricType::Counter));
    resets.metric.push_back(
        metric({{"pid", p}, {"direction", "received"}}, process.last_stats.resets_received, MetricType::Counter));
    const auto& s = process.last_stats;
    srtt.metric.push_back(
        metric({{"pid", p}}, s.srtt_samples ? s.srtt_us_sum / 1e6 / s.srtt_samples : 0, MetricType::Gauge));
  }
  families.push_back(std::move(resets));
  families.push_back(std::move(srtt));

  BpfCounters counters;
  if (bpf_) bpf_->counters(&counters);
  MetricFamily lost{"dwcp_observer_events_lost_total",
                    "Events or counts lost in BPF, by probe and reason (counted in the kernel)",
                    MetricType::Counter,
                    {}};
  MetricFamily edge_family{"dwcp_observer_probe_sampling_edge_exits_total",
                           "RETs of a sampled probe seen without their entry because the call began before the "
                           "sampling window opened: not a loss (not in dwcp_observer_events_lost_total)",
                           MetricType::Counter,
                           {}};
  MetricFamily hits{
      "dwcp_observer_probe_hits_total", "Uprobe hits (traps taken in the target), by probe", MetricType::Counter, {}};
  std::map<std::uint32_t, std::uint64_t> edge_exits;  // unmatched exits that were sampling edges
  {
    std::lock_guard<std::mutex> lock(edges_mutex_);
    for (const auto& [probe, e] : edges_) {
      const std::uint64_t unmatched = counters.drops[probe][DWCP_DROP_UNMATCHED_EXIT];
      edge_exits[probe] = std::min(unmatched, e.moved + (e.open ? unmatched - std::min(unmatched, e.base) : 0));
    }
  }
  for (std::size_t probe = 0; probe < probe_names_.size(); ++probe) {
    if (probe_names_[probe].empty()) continue;
    auto edges = edge_exits.find(static_cast<std::uint32_t>(probe));
    const std::uint64_t edge = edges == edge_exits.end() ? 0 : edges->second;
    for (int reason = 0; reason < DWCP_DROP_COUNT; ++reason) {
      std::uint64_t n = counters.drops[probe][reason];
      if (reason == DWCP_DROP_UNMATCHED_EXIT) n -= edge;
      lost.metric.push_back(metric({{"probe", probe_names_[probe]}, {"reason", contract::drop_reason_name(reason)}},
                                   static_cast<double>(n), MetricType::Counter));
    }
    // A RET whose entry fell before a sampling window opened: expected, not a loss, and kept in
    // a family of its own so that the loss alert, dashboards and dwcp-top do not count it.
    if (probe != DWCP_PROBE_ID_SOCKET)
      edge_family.metric.push_back(
          metric({{"probe", probe_names_[probe]}}, static_cast<double>(edge), MetricType::Counter));
    if (probe == DWCP_PROBE_ID_SOCKET) continue;
    double h = static_cast<double>(counters.probe_hits(static_cast<std::uint32_t>(probe)));
    hits.metric.push_back(metric({{"probe", probe_names_[probe]}}, h, MetricType::Counter));
  }
  families.push_back(std::move(lost));
  families.push_back(std::move(edge_family));
  families.push_back(std::move(hits));
  if (bpf_) {
    MetricFamily kernel{"dwcp_observer_kernel_feature",
                        "Mechanism this kernel gives each job of the BPF side (docs/kernels.md); value 1",
                        MetricType::Gauge,
                        {}};
    for (const auto& [feature, mechanism] : feature_mechanisms(bpf_->kernel_plan()))
      kernel.metric.push_back(metric({{"feature", feature}, {"mechanism", mechanism}}, 1, MetricType::Gauge));
    families.push_back(std::move(kernel));
  }
  return families;
}

}  // namespace dwcp::agent
