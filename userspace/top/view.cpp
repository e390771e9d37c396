#include "top/view.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>

#include "top/stats.h"

namespace dwcp::top {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Which series belong to the selected target: those labelled with its name (dwcp_* families
// when the agent observes several targets) or its pid (the agent's per-process families);
// series with neither label belong to every target.
struct Selection {
  std::string target;  // "" for all
  std::string pid;

  bool keep(const Sample& s) const {
    if (target.empty()) return true;
    std::string_view t = s.label("target");
    if (!t.empty()) return t == target;
    std::string_view p = s.label("pid");
    if (!p.empty()) return p == pid;
    return true;
  }
};

using KeyFn = std::function<std::string(const Sample&)>;

std::map<std::string, double> sum_by(const std::vector<Sample>& samples, std::string_view name, const Selection& sel,
                                     const KeyFn& key) {
  std::map<std::string, double> out;
  for (const auto& s : samples)
    if (s.name == name && sel.keep(s)) out[key(s)] += s.value;
  return out;
}

// Mean of every kept sample of `name` (gauges that are ratios or percentages: one per target,
// combined across targets by their mean, not their sum); NaN when there is none.
double mean(const std::vector<Sample>& samples, std::string_view name, const Selection& sel) {
  double total = 0;
  int count = 0;
  for (const auto& s : samples)
    if (s.name == name && sel.keep(s)) total += s.value, ++count;
  return count > 0 ? total / count : kNaN;
}

// Sum of every kept sample of `name`; NaN when there is none.
double sum(const std::vector<Sample>& samples, std::string_view name, const Selection& sel) {
  double total = 0;
  bool found = false;
  for (const auto& s : samples)
    if (s.name == name && sel.keep(s)) total += s.value, found = true;
  return found ? total : kNaN;
}

double le_of(const Sample& s) {
  std::string_view le = s.label("le");
  if (le == "+Inf" || le == "Inf") return std::numeric_limits<double>::infinity();
  std::string text(le);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  return end == text.c_str() || *end ? kNaN : v;
}

// The buckets of histogram `family` keyed by `label` ("": one histogram), summed over the
// other labels (bounds are the same for every series of a family).
std::map<std::string, std::vector<Bucket>> buckets_by(const std::vector<Sample>& samples, const std::string& family,
                                                      const Selection& sel, std::string_view label) {
  std::map<std::string, std::map<double, double>> acc;
  const std::string name = family + "_bucket";
  for (const auto& s : samples) {
    if (s.name != name || !sel.keep(s)) continue;
    double le = le_of(s);
    if (std::isnan(le)) continue;
    acc[label.empty() ? std::string() : std::string(s.label(label))][le] += s.value;
  }
  std::map<std::string, std::vector<Bucket>> out;
  for (const auto& [key, bounds] : acc)
    for (const auto& [le, count] : bounds) out[key].push_back({le, count});
  return out;
}

double rate_between(const std::map<std::string, double>* before, const std::map<std::string, double>& now,
                    const std::string& key, double seconds) {
  if (!before) return kNaN;
  auto n = now.find(key);
  if (n == now.end()) return kNaN;
  auto b = before->find(key);
  // A series absent before was created by its first event within the window: it counted from 0.
  return counter_rate(b == before->end() ? 0 : b->second, n->second, seconds);
}

double total_rate(const Scrape* before, const Scrape& now, std::string_view name, const Selection& sel) {
  if (!before) return kNaN;
  double a = sum(before->samples, name, sel), b = sum(now.samples, name, sel);
  if (std::isnan(b)) return kNaN;
  return counter_rate(std::isnan(a) ? 0 : a, b, now.time - before->time);
}

Durations durations(const Scrape* before, const Scrape& now, const std::string& family, const Selection& sel) {
  Durations d;
  auto all = buckets_by(now.samples, family, sel, "");
  double done = sum(now.samples, family + "_count", sel);
  d.done = std::isnan(done) ? 0 : done;
  std::vector<Bucket> since_start = all.empty() ? std::vector<Bucket>{} : all.begin()->second;
  std::vector<Bucket> window;
  if (before) {
    auto earlier = buckets_by(before->samples, family, sel, "");
    window = bucket_increase(earlier.empty() ? std::vector<Bucket>{} : earlier.begin()->second, since_start);
    if (!window.empty()) d.in_window = window.back().count;
  }
  d.lowest_bound = since_start.empty() ? kNaN : since_start.front().le;
  d.p95 = histogram_quantile(0.95, window);
  if (std::isnan(d.p95)) {
    d.p95 = histogram_quantile(0.95, since_start);
    d.p95_since_start = !std::isnan(d.p95);
  }
  return d;
}

// Labels that name a session's streams apart from the target (none today: the agent labels
// streams by stream_id only; a session label, when added, groups the table by it).
bool session_label(const std::string& key) {
  return key != "cluster" && key != "node" && key != "stream_id" && key != "target" && key != "error_type" &&
         key != "le" && key != "pid";
}

std::string numeric_order_key(const std::string& id) {
  // Stream ids are decimal: "2" before "10".
  return std::string(20 - std::min<std::size_t>(id.size(), 20), '0') + id;
}

}  // namespace

const char* sort_key_name(SortKey key) {
  switch (key) {
    case SortKey::kActivity:
      return "activity";
    case SortKey::kStream:
      return "stream";
    case SortKey::kSend:
      return "send";
    case SortKey::kReceive:
      return "recv";
    case SortKey::kShare:
      return "share";
  }
  return "stream";
}

SortKey next_sort_key(SortKey key) {
  switch (key) {
    case SortKey::kActivity:
      return SortKey::kStream;
    case SortKey::kStream:
      return SortKey::kSend;
    case SortKey::kSend:
      return SortKey::kReceive;
    case SortKey::kReceive:
      return SortKey::kShare;
    case SortKey::kShare:
      return SortKey::kActivity;
  }
  return SortKey::kStream;
}

View build_view(const Scrape* before, const Scrape& now, const std::string& target, SortKey sort) {
  View v;
  v.has_rates = before != nullptr && now.time > before->time;
  if (!v.has_rates) before = nullptr;
  v.window_seconds = before ? now.time - before->time : 0;
  const double seconds = v.window_seconds;

  for (const auto& s : now.samples)
    if (s.name == "dwcp_observer_target_up")
      v.targets.push_back({std::string(s.label("target")), std::string(s.label("pid")), s.value == 1});
  Selection sel{target, ""};
  for (const auto& t : v.targets)
    if (t.name == target) sel.pid = t.pid;

  // Header.
  for (const auto& s : now.samples) {
    if (!sel.keep(s)) continue;
    if (s.name == "dwcp_system_version_info" && v.dwcp_version.empty()) v.dwcp_version = s.label("version");
    if (s.name == "dwcp_observer_build_info") v.observer_version = s.label("version");
    if (s.name == "dwcp_observer_probe_demoted" && s.value == 1) ++v.probes_demoted;
    if (s.name == "dwcp_observer_kernel_feature" && s.value != 0)
      v.kernel_mechanisms.push_back(std::string(s.label("feature")) + "=" + std::string(s.label("mechanism")));
  }
  v.probes_attached = sum(now.samples, "dwcp_observer_probes_attached", sel);
  v.overhead_ratio = sum(now.samples, "dwcp_observer_probe_overhead_ratio", sel);
  v.events_lost = sum(now.samples, "dwcp_observer_events_lost_total", sel);
  v.events_lost_per_second = total_rate(before, now, "dwcp_observer_events_lost_total", sel);
  v.agent_start_time = sum(now.samples, "process_start_time_seconds", Selection{});

  // Streams, grouped by target (and session where labelled).
  std::string only_target = v.targets.size() == 1 ? v.targets[0].name : "";
  auto group_of = [&](const Sample& s) {
    std::string name(s.label("target"));
    if (name.empty()) name = only_target;
    for (const auto& [key, value] : s.labels)
      if (session_label(key)) name += " " + key + "=" + value;
    return name;
  };
  auto stream_key = [&](const Sample& s) { return group_of(s) + '\n' + std::string(s.label("stream_id")); };
  auto sent_now = sum_by(now.samples, "dwcp_amst_bytes_sent_total", sel, stream_key);
  auto recv_now = sum_by(now.samples, "dwcp_amst_bytes_received_total", sel, stream_key);
  std::map<std::string, double> sent_before, recv_before;
  if (before) {
    sent_before = sum_by(before->samples, "dwcp_amst_bytes_sent_total", sel, stream_key);
    recv_before = sum_by(before->samples, "dwcp_amst_bytes_received_total", sel, stream_key);
  }
  std::map<std::string, Group> groups;
  auto add_stream = [&](const std::string& key) {
    std::size_t nl = key.find('\n');
    Group& g = groups[key.substr(0, nl)];
    std::string id = key.substr(nl + 1);
    for (const auto& row : g.streams)
      if (row.id == id) return;
    StreamRow row;
    row.id = id;
    row.send_bps = rate_between(before ? &sent_before : nullptr, sent_now, key, seconds);
    row.recv_bps = rate_between(before ? &recv_before : nullptr, recv_now, key, seconds);
    if (std::isnan(row.send_bps) && sent_now.count(key) && before) row.send_bps = 0;
    if (std::isnan(row.recv_bps) && recv_now.count(key) && before) row.recv_bps = 0;
    g.streams.push_back(row);
  };
  for (const auto& [key, value] : sent_now) add_stream(key);
  for (const auto& [key, value] : recv_now) add_stream(key);

  auto errors = sum_by(now.samples, "dwcp_amst_errors_total", sel, group_of);
  auto retransmits = sum_by(now.samples, "dwcp_observer_tcp_retransmits_total", sel,
                            [](const Sample& s) { return std::string(s.label("pid")); });
  auto srtt = sum_by(now.samples, "dwcp_observer_tcp_srtt_seconds", sel,
                     [](const Sample& s) { return std::string(s.label("pid")); });
  for (auto& [name, g] : groups) {
    g.name = name;
    std::string target_name = name.substr(0, name.find(' '));
    for (const auto& t : v.targets)
      if (t.name == target_name) g.pid = t.pid;
    if (g.pid.empty() && v.targets.size() == 1) g.pid = v.targets[0].pid;
    for (const auto& row : g.streams) {
      if (!std::isnan(row.send_bps)) g.send_bps += row.send_bps;
      if (!std::isnan(row.recv_bps)) g.recv_bps += row.recv_bps;
    }
    double group_total = g.send_bps + g.recv_bps;
    for (auto& row : g.streams) {
      double own = (std::isnan(row.send_bps) ? 0 : row.send_bps) + (std::isnan(row.recv_bps) ? 0 : row.recv_bps);
      row.share = group_total > 0 ? own / group_total : (v.has_rates ? 0 : kNaN);
    }
    g.errors = errors.count(name) ? errors[name] : 0;
    g.retransmits = retransmits.count(g.pid) ? retransmits[g.pid] : kNaN;
    g.srtt_seconds = srtt.count(g.pid) ? srtt[g.pid] : kNaN;
    auto by = [sort](const StreamRow& a, const StreamRow& b) {
      auto num = [](double x) { return std::isnan(x) ? -1.0 : x; };
      switch (sort) {
        case SortKey::kSend:
          if (num(a.send_bps) != num(b.send_bps)) return num(a.send_bps) > num(b.send_bps);
          break;
        case SortKey::kReceive:
          if (num(a.recv_bps) != num(b.recv_bps)) return num(a.recv_bps) > num(b.recv_bps);
          break;
        case SortKey::kShare:
          if (num(a.share) != num(b.share)) return num(a.share) > num(b.share);
          break;
        case SortKey::kActivity: {
          const double activity_a = std::max(num(a.send_bps), 0.0) + std::max(num(a.recv_bps), 0.0);
          const double activity_b = std::max(num(b.send_bps), 0.0) + std::max(num(b.recv_bps), 0.0);
          if (activity_a != activity_b) return activity_a > activity_b;
          break;
        }
        case SortKey::kStream:
          break;
      }
      return numeric_order_key(a.id) < numeric_order_key(b.id);
    };
    std::sort(g.streams.begin(), g.streams.end(), by);
    v.send_bps += g.send_bps;
    v.recv_bps += g.recv_bps;
    v.groups.push_back(std::move(g));
  }
  if (!v.has_rates) v.send_bps = v.recv_bps = kNaN;

  // AMST latency per operation over the window.
  auto latency_now = buckets_by(now.samples, "dwcp_amst_latency_seconds", sel, "operation");
  std::map<std::string, std::vector<Bucket>> latency_before;
  if (before) latency_before = buckets_by(before->samples, "dwcp_amst_latency_seconds", sel, "operation");
  for (const auto& [op, buckets] : latency_now) {
    std::vector<Bucket> window = bucket_increase(latency_before[op], buckets);
    LatencyRow row{op, kNaN, kNaN, kNaN, buckets.empty() ? kNaN : buckets.front().le};
    if (before) {
      row.p50 = histogram_quantile(0.50, window);
      row.p99 = histogram_quantile(0.99, window);
      row.ops_per_second = window.empty() ? 0 : window.back().count / seconds;
    }
    v.latency.push_back(row);
  }

  // HDE.
  double original = sum(now.samples, "dwcp_hde_bytes_original_total", sel);
  double compressed = sum(now.samples, "dwcp_hde_bytes_compressed_total", sel);
  v.hde.present = original > 0;
  v.hde.in_bps = total_rate(before, now, "dwcp_hde_bytes_original_total", sel);
  v.hde.out_bps = total_rate(before, now, "dwcp_hde_bytes_compressed_total", sel);
  v.hde.ratio = v.hde.out_bps > 0 ? v.hde.in_bps / v.hde.out_bps : (compressed > 0 ? original / compressed : kNaN);
  v.hde.delta_hit_percent = mean(now.samples, "dwcp_hde_delta_hit_rate_percent", sel);
  v.hde.baselines = sum(now.samples, "dwcp_hde_baseline_count", sel);

  v.migrations = durations(before, now, "dwcp_migration_duration_seconds", sel);
  v.federation = durations(before, now, "dwcp_federation_sync_duration_seconds", sel);
  return v;
}

}  // namespace dwcp::top
