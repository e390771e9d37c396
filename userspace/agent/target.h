// One target of the agent: what a --pid/--comm/--exe flag or a discovered service names and, while
// one of its processes is attached, everything kept for that process: its probes' links (those
// of the per-operation probes the budget samples apart), its decoder, DWCP's own figures read
// from its memory (sessions, delta encoders, the consistency check) and the metrics model they
// feed. The agent decides (which process, when a probe is sampled, how links go); the target
// keeps what was decided and turns its process's events and figures into its model's events.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/bpf_session.h"
#include "agent/decoder.h"
#include "agent/encoder_reader.h"
#include "agent/process.h"
#include "agent/stream_reader.h"
#include "agent/stream_sockets.h"
#include "dwcp_observer/model.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

struct TargetSpec {
  int pid = 0;        // --pid
  std::string comm;   // --comm
  std::string exe;    // --exe
  std::string label;  // value of the `target` label
};

// A probe the budget may sample: its sites, and its own links while attached. Attaching or
// detaching it for a sampling window never touches the other probes (agent/agent_budget.cpp).
struct SampledLinks {
  std::vector<UprobeSite> sites;
  std::vector<Link> links;  // empty while detached
};

// What attaching a process gives its target, handed over at once (Agent::attach_loaded).
struct Attachment {
  ProcessInfo process;
  std::vector<Link> links;  // the probes that are never sampled, in one link where the kernel allows
  std::map<std::uint32_t, SampledLinks> per_operation;  // by probe id
  std::size_t sites = 0;  // uprobe sites planned (entries + RETs), a sampled probe's included
  std::vector<std::pair<std::string, const char*>> probe_states;  // as planned
  // The readers of the process's memory: the session tracker, which calls the consistency check
  // (null without a session layout), and the encoder tracker (null where its totals are not read).
  std::unique_ptr<StreamConsistency> consistency;
  std::unique_ptr<SessionTracker> sessions;
  std::unique_ptr<EncoderTracker> encoders;
  double link_capacity_bps = 0;  // --link-capacity-mbps, for the decoder
};

class Target {
 public:
  // `identity`: a discovered target's (agent/identity.h); a restart of the same service comes
  // back to it, with its labels and counters.
  Target(TargetSpec spec, std::unique_ptr<MetricsModel> model, std::string identity = "");
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  const TargetSpec& spec() const { return spec_; }
  const std::string& label() const { return spec_.label; }
  const std::string& identity() const { return identity_; }
  MetricsModel& model() { return *model_; }

  // The process attached, if any.
  const std::optional<ProcessInfo>& process() const { return process_; }
  bool attached() const { return process_.has_value(); }
  bool attached_to(std::uint32_t tgid) const { return process_ && static_cast<std::uint32_t>(process_->pid) == tgid; }
  std::size_t sites() const { return sites_; }

  // Takes what attaching a process gave; the decoder counts what the readers do not read.
  void attach(Attachment attachment);
  // Forgets the process: hands back every link (the caller detaches or retires them) and drops
  // its readers (figures its live sessions counted since the last read are lost).
  std::vector<Link> detach();

  // The per-operation probes (ids) and their links in and out of sampling windows.
  std::vector<std::uint32_t> sampled_probe_ids() const;
  // No-op when not attached, the probe is not per-operation here, or already attached.
  Result<void> attach_sampled(BpfSession& bpf, std::uint32_t probe_id);
  void detach_sampled(std::uint32_t probe_id);

  // One raw event of its process: decoded (pure), the reads it asks for carried out on the
  // readers in order (agent/target_reads.h), the result applied to the model.
  void handle(const dwcp_event& event);
  // DWCP's own figures of every live session and delta encoder, charged as deltas, and the
  // consistency check's verdicts published.
  void read_figures();
  // The kernel's byte count of its sockets now: the model's bandwidth use since the last sample
  // against `capacity_bps` (the first sample only sets the baseline).
  void sample_bandwidth(const dwcp_sock_stats& stats, std::chrono::steady_clock::time_point now, double capacity_bps);

  // The probes' states as planned at attach, those in `sampled_events` (by event name) shown
  // "sampled" where attached.
  std::vector<std::pair<std::string, const char*>> probe_states(const std::set<std::string>& sampled_events) const;

  // The build id of the binary last attached ("" before the first attach).
  const std::string& build_id() const { return build_id_; }
  void set_build_id(std::string build_id) { build_id_ = std::move(build_id); }

  // A process that matched but could not be attached is not tried again (by PID and start
  // time): a check five times a second would repeat the same message.
  bool rejected(const ProcessInfo& process) const {
    return rejected_ == std::make_pair(process.pid, process.start_time);
  }
  void reject(const ProcessInfo& process) { rejected_ = std::make_pair(process.pid, process.start_time); }

 private:
  TargetSpec spec_;
  std::string identity_;
  std::unique_ptr<MetricsModel> model_;
  EventDecoder decoder_;
  // Declared before the session tracker, which calls it: destroyed after it.
  std::unique_ptr<StreamConsistency> consistency_;
  std::unique_ptr<SessionTracker> sessions_;
  std::unique_ptr<EncoderTracker> encoders_;
  std::optional<ProcessInfo> process_;
  std::vector<Link> links_;
  std::map<std::uint32_t, SampledLinks> per_operation_;
  std::size_t sites_ = 0;
  std::vector<std::pair<std::string, const char*>> probe_states_;
  std::string build_id_;
  std::optional<std::pair<int, std::uint64_t>> rejected_;
  // Kernel-side bytes sent at the last bandwidth sample.
  std::uint64_t bandwidth_bytes_ = 0;
  std::chrono::steady_clock::time_point bandwidth_at_{};
  // One event's decoding and the model events it gives, reused from event to event.
  std::vector<Decoded> scratch_decoded_;
  std::vector<Event> scratch_events_;
};

}  // namespace dwcp::agent
