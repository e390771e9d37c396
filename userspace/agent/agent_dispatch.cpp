// Where decoded events and periodic readings go: each target's model.
#include "agent/agent.h"

#include <chrono>

namespace dwcp::agent {

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

// DWCP's own figures of every live session and delta encoder, charged as deltas
// (agent/stream_reader.h, agent/encoder_reader.h).
void Agent::read_stream_counters() {
  for (auto& target : targets_) {
    if (!target->process) continue;
    scratch_events_.clear();
    if (target->sessions) target->sessions->refresh(&scratch_events_);
    if (target->consistency) target->consistency->publish();
    if (target->encoders) target->encoders->refresh(&scratch_events_);
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

}  // namespace dwcp::agent
