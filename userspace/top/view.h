// What `top` shows, computed from two scrapes of the agent's /metrics: the figures only, no
// layout. The families and labels are those of docs/metrics.md.
#pragma once

#include <string>
#include <vector>

#include "top/exposition.h"

namespace dwcp::top {

// One scrape: when it was taken (seconds on a monotonic clock) and what it returned.
struct Scrape {
  double time = 0;
  std::vector<Sample> samples;
};

struct TargetInfo {
  std::string name;  // the `target` label of dwcp_observer_target_up
  std::string pid;
  bool up = false;
};

struct StreamRow {
  std::string id;  // stream_id
  double send_bps = 0;
  double recv_bps = 0;
  double share = 0;  // of its session's send + receive throughput, 0..1
};

// The streams of one session: one target, or one session of a target where the agent labels
// sessions (any label of the stream families besides cluster, node, stream_id and target).
struct Group {
  std::string name;
  std::string pid;
  std::vector<StreamRow> streams;
  double send_bps = 0;
  double recv_bps = 0;
  double errors = 0;  // dwcp_amst_errors_total, all types
  double retransmits = 0;
  double srtt_seconds;  // NaN when the agent has no sample
};

struct LatencyRow {
  std::string operation;
  double p50;  // seconds, NaN without observations in the window
  double p99;
  double ops_per_second;
  double lowest_bound;  // the first bucket's bound: a quantile below it is only known as "< bound"
};

struct Hde {
  bool present = false;  // any HDE activity since the agent started
  double ratio;          // original / compressed bytes over the window (since start when idle)
  double in_bps;
  double out_bps;
  double delta_hit_percent;  // mean over the targets' gauges (a percentage does not add up); NaN: no series yet
  double baselines;          // NaN: no series yet
};

struct Durations {
  double done = 0;       // completed since the agent started
  double in_window = 0;  // completed within the window
  double p95;            // seconds: over the window, or since start when none completed in it
  bool p95_since_start = false;
  double lowest_bound;
};

struct View {
  bool has_rates = false;  // two scrapes: rates and windowed quantiles are meaningful
  double window_seconds = 0;
  std::vector<TargetInfo> targets;  // every target, whatever the selection
  std::string dwcp_version;
  std::string observer_version;
  double probes_attached = 0;
  int probes_demoted = 0;
  std::vector<std::string> kernel_mechanisms;  // "feature=mechanism"
  double overhead_ratio;                       // NaN: not exported
  double events_lost = 0;
  double events_lost_per_second = 0;
  double agent_start_time;  // process_start_time_seconds (Unix), NaN when absent
  std::vector<Group> groups;
  double send_bps = 0;
  double recv_bps = 0;
  std::vector<LatencyRow> latency;
  Hde hde;
  Durations migrations;
  Durations federation;
};

// Stream order in each group: by activity (send + receive, busiest first, as htop and bpftop
// sort) unless asked otherwise.
enum class SortKey { kActivity, kStream, kSend, kReceive, kShare };
const char* sort_key_name(SortKey key);
SortKey next_sort_key(SortKey key);

// Figures of `now`, with rates and windowed quantiles against `before` (may be null: no rates).
// `target` selects one target by name ("" for all).
View build_view(const Scrape* before, const Scrape& now, const std::string& target, SortKey sort);

}  // namespace dwcp::top
