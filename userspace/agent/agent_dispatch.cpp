// Where decoded events and periodic readings go: each target's model.
#include "agent/agent.h"

#include <chrono>

namespace dwcp::agent {

void Agent::handle_event(const dwcp_event& event) {
  for (auto& target : targets_) {
    if (!target->attached_to(event.tgid)) continue;
    observer_->count_event(event_kind_name(event.kind));
    target->handle(event);
    return;
  }
}

// DWCP's own figures of every live session and delta encoder, charged as deltas
// (agent/stream_reader.h, agent/encoder_reader.h).
void Agent::read_stream_counters() {
  for (auto& target : targets_) target->read_figures();
}

// The kernel's byte counts of each target's sockets (Target::sample_bandwidth).
void Agent::sample_bandwidth() {
  if (options_.link_capacity_bps <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& target : targets_) {
    if (!target->attached()) continue;
    dwcp_sock_stats stats{};
    if (!bpf_->sock_stats(static_cast<std::uint32_t>(target->process()->pid), &stats)) continue;
    target->sample_bandwidth(stats, now, options_.link_capacity_bps);
  }
}

}  // namespace dwcp::agent
