#include "model/observer_families.h"

#include <cassert>
#include <iterator>

namespace dwcp::observer_families {

const std::vector<Family>& families() {
  using T = Type;
  using P = Presence;
  // clang-format off
  static const Family table[] = {
      {"dwcp_observer_build_info", T::kGauge, {"version", "revision"}, P::kAlways,
       "dwcp-observer build; value 1"},
      {"dwcp_observer_events_total", T::kCounter, {"kind"}, P::kAlways,
       "Events decoded from the BPF ring buffer, by kind"},
      {"dwcp_observer_target_up", T::kGauge, {"pid", "target"}, P::kAlways,
       "1 while the observed DWCP process is alive and probed, else 0"},
      {"dwcp_observer_probes_attached", T::kGauge, {"pid"}, P::kAlways,
       "Uprobes currently attached to the target (entry and RET sites)"},
      {"dwcp_observer_probe_overhead_seconds_total", T::kCounter, {"probe"}, P::kAlways,
       "Estimated time the targets spent in this probe: hits x (uprobe trap cost "
       "calibrated at start-up + mean BPF run time per hit from the kernel's BPF stats); "
       "probe=\"socket\": the socket and TCP programs' run time, by the targets' share "
       "of their runs"},
      {"dwcp_observer_probe_demoted", T::kGauge, {"probe"}, P::kAlways,
       "1 while --probe-budget samples this probe (attached only part of every interval, "
       "dwcp_observer_probe_sample_ratio), else 0; never detached for good"},
      {"dwcp_observer_probe_state", T::kGauge, {"pid", "probe", "state"}, P::kAlways,
       "1 for the state each profile probe is in for a target process: attached, sampled "
       "(attached part of every interval by --probe-budget), absent (the function is not "
       "in this build) or refused (present, address not vouched for)"},
      {"dwcp_observer_probe_sample_ratio", T::kGauge, {"probe"}, P::kAlways,
       "Share of every --probe-budget-interval the probe is attached: 1 unless the budget "
       "samples it; counts fed by a sampled probe cover only that share"},
      {"dwcp_observer_uprobe_trap_seconds", T::kGauge, {}, P::kAlways,
       "Cost of one uprobe hit on this kernel (empty BPF program), calibrated at start-up"},
      {"dwcp_observer_targets_attached", T::kGauge, {}, P::kAlways,
       "Targets with an attached DWCP process now (0: serving, observing nothing)"},
      {"dwcp_observer_probe_overhead_ratio", T::kGauge, {}, P::kAlways,
       "Estimated share of the targets' CPU time (utime + stime), or of one core when "
       "they used less, spent in the uprobes and the socket programs over the last "
       "overhead interval"},
      {"dwcp_observer_tcp_bytes_sent_total", T::kCounter, {"pid"}, P::kAlways,
       "Bytes the target's TCP sockets accepted for sending (sock:sock_send_length, or fexit tcp_sendmsg before 6.3)"},
      {"dwcp_observer_tcp_bytes_received_total", T::kCounter, {"pid"}, P::kAlways,
       "Bytes the target read from its TCP sockets (sock:sock_recv_length, or fexit tcp_recvmsg before 6.3)"},
      {"dwcp_observer_tcp_send_calls_total", T::kCounter, {"pid"}, P::kAlways,
       "TCP sends of the target, failed ones included (the socket byte programs' runs in it: their cost is "
       "charged to it by these and its receives and RTT samples)"},
      {"dwcp_observer_tcp_receive_calls_total", T::kCounter, {"pid"}, P::kAlways,
       "TCP receives of the target, failed ones included and MSG_PEEK excepted (the socket byte programs' "
       "runs in it)"},
      {"dwcp_observer_tcp_retransmits_total", T::kCounter, {"pid"}, P::kAlways,
       "TCP segments retransmitted on the target's sockets (tcp:tcp_retransmit_skb)"},
      {"dwcp_observer_tcp_connections_opened_total", T::kCounter, {"pid"}, P::kAlways,
       "TCP connections the target dialled or accepted that reached ESTABLISHED (inet_sock_set_state; each end charged "
       "to the socket's owner)"},
      {"dwcp_observer_tcp_connections_closed_total", T::kCounter, {"pid"}, P::kAlways,
       "TCP connections of the target that reached CLOSE"},
      {"dwcp_observer_tcp_resets_total", T::kCounter, {"pid", "direction"}, P::kAlways,
       "TCP resets on the target's sockets (tcp:tcp_send_reset, tcp:tcp_receive_reset)"},
      {"dwcp_observer_tcp_srtt_seconds", T::kGauge, {"pid"}, P::kAlways,
       "Mean smoothed RTT of the target's TCP sockets over tcp:tcp_probe samples"},
      {"dwcp_observer_events_lost_total", T::kCounter, {"probe", "reason"}, P::kAlways,
       "Events or counts lost in BPF, by probe and reason (counted in the kernel)"},
      {"dwcp_observer_probe_sampling_edge_exits_total", T::kCounter, {"probe"}, P::kAlways,
       "RETs of a sampled probe seen without their entry because the call began before the "
       "sampling window opened: not a loss (not in dwcp_observer_events_lost_total)"},
      {"dwcp_observer_probe_hits_total", T::kCounter, {"probe"}, P::kAlways,
       "Uprobe hits (traps taken in the target), by probe"},
      {"dwcp_observer_kernel_feature", T::kGauge, {"feature", "mechanism"}, P::kAlways,
       "Mechanism this kernel gives each job of the BPF side (docs/kernels.md); value 1"},
      {"dwcp_observer_discovery_refused_total", T::kCounter, {"reason"}, P::kAlways,
       "Candidate processes the follow policy (or a failed read) kept the agent from "
       "following, by reason"},
      {"dwcp_observer_amst_sessions", T::kGauge, {"pid"}, P::kAlways,
       "AMST sessions (*MultiStreamTCP) the agent tracks in the target, open and seen by a probe"},
      {"dwcp_observer_amst_stream_counters_readable", T::kGauge, {"pid"}, P::kAlways,
       "1 when the agent reads DWCP's per-stream byte counters in the target; 0 when the "
       "profile declares no session layout or the binary's DWARF contradicts it (then "
       "dwcp_amst_bytes_*_total come from chunk probes only, if the profile has any)"},
      {"dwcp_observer_amst_stream_table_reads_total", T::kCounter, {"pid", "result"}, P::kAlways,
       "Reads of a session's stream table from the target's memory (per-stream byte counters)"},
      {"dwcp_observer_amst_sessions_unreadable_total", T::kCounter, {"pid"}, P::kAlways,
       "Sessions whose per-stream counters could not be read: their bytes are missing "
       "from dwcp_amst_bytes_*_total (socket totals still count them)"},
      // 1024: agent::kMaxReadStreams (the test holds them equal).
      {"dwcp_observer_amst_sessions_truncated_total", T::kCounter, {"pid"}, P::kAlways,
       "Sessions holding more streams than the agent reads (1024): the rest are not counted"},
      {"dwcp_observer_amst_stream_counters_refused_total", T::kCounter, {"pid", "reason"}, P::kAlways,
       "Sessions whose stream counters were refused as no DWCP stream counts them: reason "
       "decrease (a counter went down) or jump (above 2^60, or more than 1 TiB between two reads); "
       "the session is read no more, nothing of it is exported as a decrease"},
      // 16384: agent::kMaxTrackedStreams (the test holds them equal).
      {"dwcp_observer_amst_streams_untracked_total", T::kCounter, {"pid"}, P::kAlways,
       "Streams not counted because the agent tracks 16384 in the target already"},
      {"dwcp_observer_amst_stream_reconnects_total", T::kCounter, {"pid"}, P::kAlways,
       "Successful stream reconnects, as DWCP counts them itself (StreamConn.reconnects, "
       "read from the target); a failed one is dwcp_amst_errors_total{error_type=\"reconnect_failed\"}"},
      {"dwcp_observer_consistency_bytes", T::kGauge, {"pid", "direction"}, P::kWithLayout,
       "Sum over AMST streams of |bytes the kernel counted on the stream's own sockets - DWCP's "
       "per-stream counter (StreamConn.bytesSent/bytesRecv)| over the same time, per direction: 0 "
       "within the chunks in flight; a lasting difference means a wrong layout or lost figures"},
      {"dwcp_observer_consistency_streams_checked_total", T::kCounter, {"pid"}, P::kWithLayout,
       "AMST streams whose socket the agent found, so that their counters are checked against the "
       "kernel's (dwcp_observer_consistency_bytes)"},
      {"dwcp_observer_consistency_unverified_bytes_total", T::kCounter, {"pid", "direction"}, P::kWithLayout,
       "Bytes of DWCP's per-stream counters the agent could not compare with the kernel's, per "
       "direction: counted before it found the stream's socket (before the attach, or a stream "
       "that closed before its first read), or after the stream moved to a connection whose "
       "socket closed before the agent could look it up; not part of dwcp_observer_consistency_bytes"},
      {"dwcp_observer_http_auth_failures_total", T::kCounter, {"reason"}, P::kWithBasicAuth,
       "Requests to /metrics refused for authentication, by reason "
       "(missing or wrong credentials, refused unchecked because the client failed too often, or because too many "
       "password checks were already waiting)."},
      {"dwcp_observer_labels_overflow_total", T::kCounter, {"label"}, P::kAlways,
       "Updates whose label value was folded into \"other\" because the label reached its "
       "cap of distinct values"},
      {"dwcp_observer_invalid_events_total", T::kCounter, {"reason"}, P::kAlways,
       "Invalid inputs (empty ids, negative sizes, unmatched ends) clamped or ignored"},
  };
  // clang-format on
  static_assert(std::size(table) == static_cast<std::size_t>(Id::kCount), "one row per Id, in Id order");
  static const std::vector<Family> list(std::begin(table), std::end(table));
  return list;
}

const Family& family(Id id) { return families().at(static_cast<std::size_t>(id)); }

const char* type_name(Type type) { return type == Type::kCounter ? "counter" : "gauge"; }

prometheus::Family<prometheus::Counter>& build_counter(Id id, prometheus::Registry& registry) {
  const Family& f = family(id);
  assert(f.type == Type::kCounter);
  return prometheus::BuildCounter().Name(f.name).Help(f.help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& build_gauge(Id id, prometheus::Registry& registry) {
  const Family& f = family(id);
  assert(f.type == Type::kGauge);
  return prometheus::BuildGauge().Name(f.name).Help(f.help).Register(registry);
}

prometheus::MetricFamily metric_family(Id id) {
  const Family& f = family(id);
  return {
      f.name, f.help, f.type == Type::kCounter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge, {}};
}

std::string text_header(Id id) {
  const Family& f = family(id);
  // The text format escapes backslashes and newlines in HELP.
  std::string help;
  for (const char* c = f.help; *c != '\0'; ++c) {
    if (*c == '\\')
      help += "\\\\";
    else if (*c == '\n')
      help += "\\n";
    else
      help += *c;
  }
  return std::string("# HELP ") + f.name + " " + help + "\n# TYPE " + f.name + " " + type_name(f.type) + "\n";
}

}  // namespace dwcp::observer_families
