// The agent's own dwcp_observer_* families. Counters that the BPF side keeps (socket bytes,
// losses, probe hits) are read from its maps at scrape time, never copied on the event path.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/bpf_session.h"
#include "agent/probe_budget.h"

namespace dwcp::agent {

// What the scrape-time collector needs to know about one observed process.
struct ObservedProcess {
  std::uint32_t pid = 0;
  std::string target;  // target label: the name the operator gave it
  bool alive = false;
  dwcp_sock_stats last_stats{};  // kept after the process exits: counters never go back
};

class ObserverMetrics : public prometheus::Collectable {
 public:
  ObserverMetrics(const BpfSession* bpf, std::vector<std::string> probe_names);

  // Registry-backed families updated by the agent.
  prometheus::Registry& registry() { return *registry_; }
  void count_event(const char* kind);
  void set_target(const ObservedProcess& process, int probes_attached);
  // The process exited: its last socket counters stay exported (counters never go back).
  void mark_target_gone(std::uint32_t pid, const dwcp_sock_stats& last);

  // The agent's estimate of what its uprobes cost the targets (agent/probe_budget.h), updated by the
  // overhead tick of the consumer thread.
  void set_trap_cost(double seconds_per_hit);
  void add_probe_overhead(const std::vector<ProbeCost>& costs);  // ProbeCost::probe = probe label
  void set_overhead_share(double share);
  // How many targets have an attached process now (0: the agent serves but observes nothing).
  void set_targets_attached(int count);
  // The probes the budget samples (probe id -> share of each interval attached) and those whose
  // unmatched exits are sampling edges (sampled now or in the interval that just ended): from
  // now on their unmatched exits count in dwcp_observer_probe_sampling_edge_exits_total instead
  // of dwcp_observer_events_lost_total{reason="unmatched_exit"}.
  void set_sampling(const std::map<std::uint32_t, double>& ratios, const std::set<std::uint32_t>& edges);
  // Each profile probe's state in process pid: "attached", "sampled" (attached part of every
  // interval by the budget), "absent" (the function is not in this build) or "refused"
  // (present, but its address or layout could not be vouched for).
  void set_probe_states(std::uint32_t pid, const std::vector<std::pair<std::string, const char*>>& states);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const BpfSession* bpf_;
  std::vector<std::string> probe_names_;  // by probe id
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* events_total_;
  prometheus::Family<prometheus::Gauge>* target_up_;
  prometheus::Family<prometheus::Gauge>* probes_attached_;
  prometheus::Family<prometheus::Counter>* probe_overhead_;
  prometheus::Family<prometheus::Gauge>* probe_demoted_;
  prometheus::Family<prometheus::Gauge>* probe_state_;
  prometheus::Family<prometheus::Gauge>* sample_ratio_;
  // Unmatched exits moved to the sampling-edge family, per probe id: while a probe's edges are
  // open, every unmatched exit since `base` is an edge; `moved` holds the closed spans.
  struct Edges {
    bool open = false;
    std::uint64_t base = 0;
    std::uint64_t moved = 0;
  };
  mutable std::mutex edges_mutex_;
  std::map<std::uint32_t, Edges> edges_;
  std::map<std::uint32_t, std::vector<prometheus::Gauge*>> probe_state_series_;  // by pid, under processes_mutex_
  prometheus::Gauge* trap_cost_;
  prometheus::Gauge* overhead_share_;
  prometheus::Gauge* targets_attached_;
  std::map<std::string, prometheus::Counter*> event_counters_;  // consumer thread only
  mutable std::mutex processes_mutex_;
  mutable std::map<std::uint32_t, ObservedProcess> processes_;
};

}  // namespace dwcp::agent
