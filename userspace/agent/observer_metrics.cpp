#include "agent/observer_metrics.h"

#include <algorithm>

#include "agent/decoder.h"
#include "dwcp_observer/contract.h"
#include "dwcp_observer/version.h"
#include "model/observer_families.h"

namespace dwcp::agent {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
namespace catalogue = observer_families;
using Id = observer_families::Id;

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
  catalogue::build_gauge(Id::kBuildInfo, *registry_)
      .Add({{"version", DWCP_OBSERVER_VERSION}, {"revision", DWCP_OBSERVER_REVISION}})
      .Set(1);
  events_total_ = &catalogue::build_counter(Id::kEventsTotal, *registry_);
  target_up_ = &catalogue::build_gauge(Id::kTargetUp, *registry_);
  probes_attached_ = &catalogue::build_gauge(Id::kProbesAttached, *registry_);
  probe_overhead_ = &catalogue::build_counter(Id::kProbeOverheadSeconds, *registry_);
  probe_demoted_ = &catalogue::build_gauge(Id::kProbeDemoted, *registry_);
  probe_state_ = &catalogue::build_gauge(Id::kProbeState, *registry_);
  sample_ratio_ = &catalogue::build_gauge(Id::kProbeSampleRatio, *registry_);
  trap_cost_ = &catalogue::build_gauge(Id::kUprobeTrapSeconds, *registry_).Add({});
  // Present from the first scrape (0 until a target is attached): readiness means "serving", so
  // this is how "observes nothing" shows (DWCPObserverTargetDown).
  targets_attached_ = &catalogue::build_gauge(Id::kTargetsAttached, *registry_).Add({});
  overhead_share_ = &catalogue::build_gauge(Id::kProbeOverheadRatio, *registry_).Add({});
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
    Id id;
    __u64 dwcp_sock_stats::*field;
  };
  static const SockFamily kSock[] = {
      {Id::kTcpBytesSent, &dwcp_sock_stats::bytes_sent},
      {Id::kTcpBytesReceived, &dwcp_sock_stats::bytes_received},
      {Id::kTcpSendCalls, &dwcp_sock_stats::send_calls},
      {Id::kTcpReceiveCalls, &dwcp_sock_stats::recv_calls},
      {Id::kTcpRetransmits, &dwcp_sock_stats::retransmits},
      {Id::kTcpConnectionsOpened, &dwcp_sock_stats::connections_opened},
      {Id::kTcpConnectionsClosed, &dwcp_sock_stats::connections_closed},
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
    MetricFamily family = catalogue::metric_family(sock.id);
    for (const auto& [pid, process] : processes)
      family.metric.push_back(metric({{"pid", std::to_string(pid)}},
                                     static_cast<double>(process.last_stats.*sock.field), MetricType::Counter));
    families.push_back(std::move(family));
  }
  MetricFamily resets = catalogue::metric_family(Id::kTcpResets);
  MetricFamily srtt = catalogue::metric_family(Id::kTcpSrtt);
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
  MetricFamily lost = catalogue::metric_family(Id::kEventsLost);
  MetricFamily edge_family = catalogue::metric_family(Id::kProbeSamplingEdgeExits);
  MetricFamily hits = catalogue::metric_family(Id::kProbeHits);
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
    MetricFamily kernel = catalogue::metric_family(Id::kKernelFeature);
    for (const auto& [feature, mechanism] : feature_mechanisms(bpf_->kernel_plan()))
      kernel.metric.push_back(metric({{"feature", feature}, {"mechanism", mechanism}}, 1, MetricType::Gauge));
    families.push_back(std::move(kernel));
  }
  return families;
}

}  // namespace dwcp::agent
