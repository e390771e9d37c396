#include "agent/target.h"

#include <string_view>

#include "agent/target_reads.h"

namespace dwcp::agent {

Target::Target(TargetSpec spec, std::unique_ptr<MetricsModel> model, std::string identity)
    : spec_(std::move(spec)), identity_(std::move(identity)), model_(std::move(model)) {}

Target::~Target() = default;

void Target::attach(Attachment attachment) {
  // The previous process's readers go first: the tracker before the check it calls.
  sessions_.reset();
  encoders_.reset();
  consistency_.reset();
  process_ = std::move(attachment.process);
  links_ = std::move(attachment.links);
  per_operation_ = std::move(attachment.per_operation);
  sites_ = attachment.sites;
  probe_states_ = std::move(attachment.probe_states);
  consistency_ = std::move(attachment.consistency);
  sessions_ = std::move(attachment.sessions);
  encoders_ = std::move(attachment.encoders);
  // What the readers give decides what the decoder counts from events (agent/decoder.h).
  DecoderConfig decoding;
  decoding.link_capacity_bps = attachment.link_capacity_bps;
  decoding.sessions = true;
  decoding.stream_counters = sessions_ && sessions_->reads_counters();
  decoding.encoder_totals = encoders_ != nullptr;
  decoder_ = EventDecoder(decoding);
  bandwidth_at_ = {};
}

std::vector<Link> Target::detach() {
  std::vector<Link> links = std::move(links_);
  links_.clear();
  for (auto& [probe_id, group] : per_operation_)
    for (auto& link : group.links) links.push_back(std::move(link));
  per_operation_.clear();
  sites_ = 0;
  sessions_.reset();
  encoders_.reset();
  consistency_.reset();
  process_.reset();
  return links;
}

std::vector<std::uint32_t> Target::sampled_probe_ids() const {
  std::vector<std::uint32_t> ids;
  for (const auto& [probe_id, group] : per_operation_) ids.push_back(probe_id);
  return ids;
}

Result<void> Target::attach_sampled(BpfSession& bpf, std::uint32_t probe_id) {
  auto it = per_operation_.find(probe_id);
  if (it == per_operation_.end() || !it->second.links.empty() || !process_) return {};
  auto links = bpf.attach_uprobes(process_->pid, process_->binary_path, it->second.sites);
  if (!links) return links.failure();
  it->second.links = std::move(links).value();
  return {};
}

void Target::detach_sampled(std::uint32_t probe_id) {
  auto it = per_operation_.find(probe_id);
  if (it != per_operation_.end()) detach_links(&it->second.links);
}

void Target::handle(const dwcp_event& event) {
  if (!attached_to(event.tgid)) return;
  // Decoding is pure; the reads it asks for are done here, in order (agent/target_reads.h).
  scratch_decoded_.clear();
  decoder_.decode(event, &scratch_decoded_);
  scratch_events_.clear();
  carry_out(scratch_decoded_, sessions_.get(), encoders_.get(), &scratch_events_);
  for (const auto& e : scratch_events_) model_->apply(e);
}

void Target::read_figures() {
  if (!process_) return;
  scratch_events_.clear();
  if (sessions_) sessions_->refresh(&scratch_events_);
  if (consistency_) consistency_->publish();
  if (encoders_) encoders_->refresh(&scratch_events_);
  for (const auto& e : scratch_events_) model_->apply(e);
}

// AMST's bandwidth use is what the target's TCP sockets send, measured in the kernel; what is
// available is the link capacity the operator states (--link-capacity-mbps): nothing in the
// process tells it.
void Target::sample_bandwidth(const dwcp_sock_stats& stats, std::chrono::steady_clock::time_point now,
                              double capacity_bps) {
  const double elapsed = std::chrono::duration<double>(now - bandwidth_at_).count();
  if (bandwidth_at_ != std::chrono::steady_clock::time_point{} && elapsed > 0 && stats.bytes_sent >= bandwidth_bytes_) {
    const double used_bps = static_cast<double>(stats.bytes_sent - bandwidth_bytes_) * 8 / elapsed;
    model_->apply(BandwidthUpdate{used_bps, capacity_bps});
  }
  bandwidth_bytes_ = stats.bytes_sent;
  bandwidth_at_ = now;
}

std::vector<std::pair<std::string, const char*>> Target::probe_states(
    const std::set<std::string>& sampled_events) const {
  auto states = probe_states_;
  for (auto& [probe, state] : states)
    if (std::string_view(state) == "attached" && sampled_events.count(probe)) state = "sampled";
  return states;
}

}  // namespace dwcp::agent
