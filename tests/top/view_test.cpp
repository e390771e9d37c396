// build_view on expositions shaped like the agent's (docs/metrics.md), and the layout of render.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "top/render.h"
#include "top/view.h"

using namespace dwcp::top;

namespace {

// One scrape of an agent watching one target, at `t` seconds, with `k` as the progress factor.
std::string agent_text(double k, const std::string& extra = "") {
  std::string s;
  auto line = [&](const std::string& l) { s += l + "\n"; };
  line("# TYPE dwcp_amst_bytes_sent_total counter");
  line("dwcp_amst_bytes_sent_total{cluster=\"default\",node=\"vm\",stream_id=\"0\"} " + std::to_string(1000000 * k));
  line("dwcp_amst_bytes_sent_total{cluster=\"default\",node=\"vm\",stream_id=\"1\"} " + std::to_string(3000000 * k));
  line("dwcp_amst_bytes_sent_total{cluster=\"default\",node=\"vm\",stream_id=\"10\"} " + std::to_string(500000 * k));
  line("dwcp_amst_bytes_received_total{cluster=\"default\",node=\"vm\",stream_id=\"0\"} " +
       std::to_string(1000000 * k));
  line("dwcp_amst_errors_total{cluster=\"default\",node=\"vm\",error_type=\"reconnect\"} 3");
  line("dwcp_amst_errors_total{cluster=\"default\",node=\"vm\",error_type=\"send\"} 2");
  // Latency: each step adds 10 sends, all in (0.002, 0.004].
  line("dwcp_amst_latency_seconds_bucket{cluster=\"default\",node=\"vm\",operation=\"send\",le=\"0.001\"} 5");
  line("dwcp_amst_latency_seconds_bucket{cluster=\"default\",node=\"vm\",operation=\"send\",le=\"0.002\"} 10");
  line("dwcp_amst_latency_seconds_bucket{cluster=\"default\",node=\"vm\",operation=\"send\",le=\"0.004\"} " +
       std::to_string(10 + 10 * k));
  line("dwcp_amst_latency_seconds_bucket{cluster=\"default\",node=\"vm\",operation=\"send\",le=\"+Inf\"} " +
       std::to_string(10 + 10 * k));
  line("dwcp_amst_latency_seconds_count{cluster=\"default\",node=\"vm\",operation=\"send\"} " +
       std::to_string(10 + 10 * k));
  line("dwcp_hde_bytes_original_total{cluster=\"default\",node=\"vm\",data_type=\"vm_memory\"} " +
       std::to_string(4000000 * k));
  line("dwcp_hde_bytes_compressed_total{cluster=\"default\",node=\"vm\",data_type=\"vm_memory\"} " +
       std::to_string(1000000 * k));
  line("dwcp_hde_delta_hit_rate_percent{cluster=\"default\",node=\"vm\"} 75");
  line("dwcp_hde_baseline_count{cluster=\"default\",node=\"vm\",baseline_type=\"delta\"} 17");
  line(
      "dwcp_migration_duration_seconds_bucket{cluster=\"default\",source_node=\"vm\",dest_node=\"a\",dwcp_enabled="
      "\"true\",le=\"1\"} 0");
  line(
      "dwcp_migration_duration_seconds_bucket{cluster=\"default\",source_node=\"vm\",dest_node=\"a\",dwcp_enabled="
      "\"true\",le=\"2\"} " +
      std::to_string(4 * k));
  line(
      "dwcp_migration_duration_seconds_bucket{cluster=\"default\",source_node=\"vm\",dest_node=\"a\",dwcp_enabled="
      "\"true\",le=\"+Inf\"} " +
      std::to_string(4 * k));
  line(
      "dwcp_migration_duration_seconds_count{cluster=\"default\",source_node=\"vm\",dest_node=\"a\",dwcp_enabled="
      "\"true\"} " +
      std::to_string(4 * k));
  line("dwcp_system_version_info{cluster=\"default\",version=\"go1.24.1\",git_commit=\"abc\",build_date=\"x\"} 1");
  line("dwcp_observer_build_info{revision=\"c8f3aa7\",version=\"0.1.0\"} 1");
  line("dwcp_observer_target_up{pid=\"4242\",target=\"pid-4242\"} 1");
  line("dwcp_observer_probes_attached{pid=\"4242\"} 106");
  line("dwcp_observer_probe_demoted{probe=\"send_chunk\"} 1");
  line("dwcp_observer_probe_demoted{probe=\"send\"} 0");
  line("dwcp_observer_probe_overhead_ratio 0.0125");
  line("dwcp_observer_events_lost_total{probe=\"send\",reason=\"ringbuf_full\"} " + std::to_string(7 * k));
  line("dwcp_observer_tcp_retransmits_total{pid=\"4242\"} 9");
  line("dwcp_observer_tcp_srtt_seconds{pid=\"4242\"} 0.000085");
  return s + extra;
}

Scrape scrape_at(double time, const std::string& text) {
  auto samples = parse_exposition(text);
  EXPECT_TRUE(samples.ok()) << samples.error();
  return Scrape{time, samples.ok() ? *samples : std::vector<Sample>{}};
}

}  // namespace

TEST(View, StreamRatesSharesAndSessionFigures) {
  Scrape a = scrape_at(100, agent_text(1)), b = scrape_at(102, agent_text(2));
  View v = build_view(&a, b, "", SortKey::kStream);
  ASSERT_TRUE(v.has_rates);
  EXPECT_DOUBLE_EQ(v.window_seconds, 2);
  ASSERT_EQ(v.groups.size(), 1u);
  const Group& g = v.groups[0];
  EXPECT_EQ(g.name, "pid-4242");
  EXPECT_EQ(g.pid, "4242");
  ASSERT_EQ(g.streams.size(), 3u);
  // Numeric order of stream ids: 0, 1, 10.
  EXPECT_EQ(g.streams[0].id, "0");
  EXPECT_EQ(g.streams[1].id, "1");
  EXPECT_EQ(g.streams[2].id, "10");
  EXPECT_DOUBLE_EQ(g.streams[0].send_bps, 500000);
  EXPECT_DOUBLE_EQ(g.streams[0].recv_bps, 500000);
  EXPECT_DOUBLE_EQ(g.streams[1].send_bps, 1500000);
  EXPECT_TRUE(std::isnan(g.streams[1].recv_bps));  // no receive series for stream 1
  EXPECT_DOUBLE_EQ(g.send_bps, 2250000);
  EXPECT_DOUBLE_EQ(g.recv_bps, 500000);
  // Share of the session's send + receive: stream 0 moves 1 MB/s of 2.75 MB/s.
  EXPECT_NEAR(g.streams[0].share, 1.0 / 2.75, 1e-12);
  EXPECT_NEAR(g.streams[0].share + g.streams[1].share + g.streams[2].share, 1, 1e-12);
  EXPECT_DOUBLE_EQ(g.errors, 5);
  EXPECT_DOUBLE_EQ(g.retransmits, 9);
  EXPECT_DOUBLE_EQ(g.srtt_seconds, 0.000085);
  EXPECT_DOUBLE_EQ(v.send_bps, 2250000);
}

TEST(View, HeaderFigures) {
  Scrape a = scrape_at(0, agent_text(1)), b = scrape_at(1, agent_text(3));
  View v = build_view(&a, b, "", SortKey::kStream);
  ASSERT_EQ(v.targets.size(), 1u);
  EXPECT_EQ(v.targets[0].name, "pid-4242");
  EXPECT_TRUE(v.targets[0].up);
  EXPECT_EQ(v.dwcp_version, "go1.24.1");
  EXPECT_EQ(v.observer_version, "0.1.0");
  EXPECT_DOUBLE_EQ(v.probes_attached, 106);
  EXPECT_EQ(v.probes_demoted, 1);
  EXPECT_DOUBLE_EQ(v.overhead_ratio, 0.0125);
  EXPECT_DOUBLE_EQ(v.events_lost, 21);
  EXPECT_DOUBLE_EQ(v.events_lost_per_second, 14);
  EXPECT_TRUE(v.kernel_mechanisms.empty());
  EXPECT_TRUE(std::isnan(v.agent_start_time));

  std::string more =
      "dwcp_observer_kernel_feature{feature=\"uprobe\",mechanism=\"uprobe_multi\"} 1\n"
      "dwcp_observer_kernel_feature{feature=\"uprobe\",mechanism=\"perf_event\"} 0\n"
      "process_start_time_seconds 1700000000\n";
  Scrape c = scrape_at(2, agent_text(3, more));
  View w = build_view(&a, c, "", SortKey::kStream);
  ASSERT_EQ(w.kernel_mechanisms.size(), 1u);
  EXPECT_EQ(w.kernel_mechanisms[0], "uprobe=uprobe_multi");
  EXPECT_DOUBLE_EQ(w.agent_start_time, 1700000000);
}

TEST(View, LatencyQuantilesOverTheWindowOnly) {
  Scrape a = scrape_at(0, agent_text(1)), b = scrape_at(5, agent_text(2));
  View v = build_view(&a, b, "", SortKey::kStream);
  ASSERT_EQ(v.latency.size(), 1u);
  EXPECT_EQ(v.latency[0].operation, "send");
  // The window's 10 observations are all in (0.002, 0.004]: p50 = 0.002 + 0.002 * 5/10.
  EXPECT_NEAR(v.latency[0].p50, 0.003, 1e-12);
  EXPECT_NEAR(v.latency[0].p99, 0.002 + 0.002 * 9.9 / 10, 1e-12);
  EXPECT_DOUBLE_EQ(v.latency[0].ops_per_second, 2);
  EXPECT_DOUBLE_EQ(v.latency[0].lowest_bound, 0.001);
}

TEST(View, HdeAndDurations) {
  Scrape a = scrape_at(0, agent_text(1)), b = scrape_at(2, agent_text(2));
  View v = build_view(&a, b, "", SortKey::kStream);
  EXPECT_TRUE(v.hde.present);
  EXPECT_DOUBLE_EQ(v.hde.in_bps, 2000000);
  EXPECT_DOUBLE_EQ(v.hde.out_bps, 500000);
  EXPECT_DOUBLE_EQ(v.hde.ratio, 4);
  EXPECT_DOUBLE_EQ(v.hde.delta_hit_percent, 75);
  EXPECT_DOUBLE_EQ(v.hde.baselines, 17);
  EXPECT_DOUBLE_EQ(v.migrations.done, 8);
  EXPECT_DOUBLE_EQ(v.migrations.in_window, 4);
  // 4 in (1, 2]: p95 = 1 + 0.95 * 4 / 4.
  EXPECT_DOUBLE_EQ(v.migrations.p95, 1.95);
  EXPECT_FALSE(v.migrations.p95_since_start);
  // Nothing completed in the window: p95 since start, and said so.
  Scrape c = scrape_at(3, agent_text(2));
  View idle = build_view(&b, c, "", SortKey::kStream);
  EXPECT_DOUBLE_EQ(idle.migrations.in_window, 0);
  EXPECT_DOUBLE_EQ(idle.migrations.p95, 1.95);
  EXPECT_TRUE(idle.migrations.p95_since_start);
  EXPECT_TRUE(std::isnan(idle.federation.p95));
}

TEST(View, OneScrapeHasNoRates) {
  Scrape a = scrape_at(0, agent_text(1));
  View v = build_view(nullptr, a, "", SortKey::kStream);
  EXPECT_FALSE(v.has_rates);
  ASSERT_EQ(v.groups.size(), 1u);
  EXPECT_TRUE(std::isnan(v.groups[0].streams[0].send_bps));
  EXPECT_TRUE(std::isnan(v.latency[0].p50));
}

TEST(View, CounterResetBetweenScrapes) {
  // The agent restarted: its counters start again below the previous reading.
  Scrape a = scrape_at(0, agent_text(10)), b = scrape_at(1, agent_text(1));
  View v = build_view(&a, b, "", SortKey::kStream);
  EXPECT_DOUBLE_EQ(v.groups[0].streams[0].send_bps, 1000000);
}

TEST(View, SortKeys) {
  Scrape a = scrape_at(0, agent_text(1)), b = scrape_at(1, agent_text(2));
  View v = build_view(&a, b, "", SortKey::kSend);
  EXPECT_EQ(v.groups[0].streams[0].id, "1");
  EXPECT_EQ(v.groups[0].streams[1].id, "0");
  EXPECT_EQ(v.groups[0].streams[2].id, "10");
  View r = build_view(&a, b, "", SortKey::kReceive);
  EXPECT_EQ(r.groups[0].streams[0].id, "0");
  EXPECT_EQ(next_sort_key(SortKey::kShare), SortKey::kActivity);
  EXPECT_EQ(next_sort_key(SortKey::kActivity), SortKey::kStream);
  // By activity (the default): send + receive, busiest first — stream 1 (3 MB/s), 0 (1 + 1), 10.
  View busy = build_view(&a, b, "", SortKey::kActivity);
  EXPECT_EQ(busy.groups[0].streams[0].id, "1");
  EXPECT_EQ(busy.groups[0].streams[1].id, "0");
  EXPECT_EQ(busy.groups[0].streams[2].id, "10");
}

namespace {
std::string two_targets(double k) {
  std::string s;
  for (const char* t : {"a", "b"}) {
    std::string pid = t[0] == 'a' ? "1" : "2";
    double f = t[0] == 'a' ? 1 : 4;
    s += "dwcp_amst_bytes_sent_total{cluster=\"c\",node=\"n\",stream_id=\"0\",target=\"" + std::string(t) + "\"} " +
         std::to_string(f * 1000 * k) + "\n";
    s += "dwcp_observer_target_up{pid=\"" + pid + "\",target=\"" + t + "\"} 1\n";
    s += "dwcp_observer_probes_attached{pid=\"" + pid + "\"} " + std::to_string(10 * f) + "\n";
    s += "dwcp_observer_tcp_retransmits_total{pid=\"" + pid + "\"} " + std::to_string(f) + "\n";
    s += "dwcp_hde_delta_hit_rate_percent{cluster=\"c\",node=\"n\",target=\"" + std::string(t) + "\"} " +
         std::to_string(f * 20) + "\n";
  }
  return s;
}
}  // namespace

TEST(View, TargetsGroupAndSelect) {
  Scrape a = scrape_at(0, two_targets(1)), b = scrape_at(1, two_targets(2));
  View all = build_view(&a, b, "", SortKey::kStream);
  ASSERT_EQ(all.targets.size(), 2u);
  ASSERT_EQ(all.groups.size(), 2u);
  EXPECT_EQ(all.groups[0].name, "a");
  EXPECT_DOUBLE_EQ(all.groups[0].send_bps, 1000);
  EXPECT_DOUBLE_EQ(all.groups[0].retransmits, 1);
  EXPECT_DOUBLE_EQ(all.groups[1].send_bps, 4000);
  EXPECT_DOUBLE_EQ(all.groups[1].retransmits, 4);
  EXPECT_DOUBLE_EQ(all.probes_attached, 50);
  View b_only = build_view(&a, b, "b", SortKey::kStream);
  ASSERT_EQ(b_only.groups.size(), 1u);
  EXPECT_EQ(b_only.groups[0].name, "b");
  EXPECT_DOUBLE_EQ(b_only.probes_attached, 40);
  EXPECT_DOUBLE_EQ(b_only.send_bps, 4000);
  // A percentage per target combines by its mean (20 % and 80 %: 50 %), never by its sum (100 %).
  EXPECT_DOUBLE_EQ(all.hde.delta_hit_percent, 50);
  EXPECT_DOUBLE_EQ(b_only.hde.delta_hit_percent, 80);
}

TEST(View, SessionsGroupWhereTheAgentLabelsThem) {
  std::string t0 =
      "dwcp_observer_target_up{pid=\"7\",target=\"x\"} 1\n"
      "dwcp_amst_bytes_sent_total{cluster=\"c\",node=\"n\",session=\"s1\",stream_id=\"0\"} 0\n"
      "dwcp_amst_bytes_sent_total{cluster=\"c\",node=\"n\",session=\"s2\",stream_id=\"0\"} 0\n";
  std::string t1 =
      "dwcp_observer_target_up{pid=\"7\",target=\"x\"} 1\n"
      "dwcp_amst_bytes_sent_total{cluster=\"c\",node=\"n\",session=\"s1\",stream_id=\"0\"} 300\n"
      "dwcp_amst_bytes_sent_total{cluster=\"c\",node=\"n\",session=\"s2\",stream_id=\"0\"} 100\n";
  Scrape a = scrape_at(0, t0), b = scrape_at(1, t1);
  View v = build_view(&a, b, "", SortKey::kStream);
  ASSERT_EQ(v.groups.size(), 2u);
  EXPECT_EQ(v.groups[0].name, "x session=s1");
  EXPECT_EQ(v.groups[1].name, "x session=s2");
  EXPECT_DOUBLE_EQ(v.groups[0].streams[0].share, 1);  // the share is of its own session
  EXPECT_EQ(v.groups[1].pid, "7");
}

namespace {
std::size_t cells(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string many_streams(double k, int n, bool with_target = true) {
  std::string s = with_target ? "dwcp_observer_target_up{pid=\"9\",target=\"t\"} 1\n" : "";
  for (int i = 0; i < n; ++i)
    s += "dwcp_amst_bytes_sent_total{stream_id=\"" + std::to_string(i) + "\"} " + std::to_string(k * (i + 1) * 1e6) +
         "\n";
  return s;
}
}  // namespace

TEST(Render, FitsEightyByTwentyFourWithEightStreams) {
  Scrape a = scrape_at(0, agent_text(1) + many_streams(1, 8, false)),
         b = scrape_at(1, agent_text(2) + many_streams(2, 8, false));
  View v = build_view(&a, b, "", SortKey::kStream);
  std::deque<double> spark{1, 2, 3};
  RenderOptions o;
  o.url = "http://127.0.0.1:9090/metrics";
  auto lines = render(v, o, Sparklines{&spark, &spark});
  EXPECT_LE(lines.size(), 24u);
  std::string all;
  for (const auto& l : lines) {
    EXPECT_LE(cells(l.text), 80u) << l.text;
    all += l.text + "\n";
  }
  // Every stream of the 80x24 screen is there (the group has 3 + 8 stream ids, shared ids summed).
  for (int i = 0; i < 8; ++i) EXPECT_NE(all.find("\n  " + std::to_string(i) + " "), std::string::npos) << all;
  EXPECT_NE(all.find("probes 106 attached, 1 demoted"), std::string::npos) << all;
  EXPECT_NE(all.find("overhead 1.25%"), std::string::npos) << all;
  EXPECT_NE(all.find("DWCP go1.24.1"), std::string::npos) << all;
  EXPECT_NE(all.find("HDE  ratio 4.00x"), std::string::npos) << all;
  EXPECT_NE(all.find("q quit"), std::string::npos) << all;
}

TEST(Render, TooManyStreamsSayHowManyAreHiddenAndATallerTerminalShowsThem) {
  Scrape a = scrape_at(0, many_streams(1, 40)), b = scrape_at(1, many_streams(2, 40));
  View v = build_view(&a, b, "", SortKey::kSend);
  RenderOptions o;
  o.sort = SortKey::kSend;
  auto small = render(v, o, Sparklines{});
  EXPECT_EQ(small.size(), 24u);
  bool said = false;
  for (const auto& l : small) said = said || l.text.find("more rows (40 streams, sorted by send") != std::string::npos;
  EXPECT_TRUE(said);
  o.width = 160;
  o.height = 60;
  auto big = render(v, o, Sparklines{});
  std::string all;
  for (const auto& l : big) all += l.text + "\n";
  EXPECT_EQ(all.find("more rows"), std::string::npos);
  EXPECT_NE(all.find("\n  0 "), std::string::npos);
  // Sorted by send: the busiest stream (39) first.
  EXPECT_LT(all.find("\n  39 "), all.find("\n  0 "));
  o.all_rows = true;
  o.height = 10;
  EXPECT_GT(render(v, o, Sparklines{}).size(), 40u);
}

TEST(Render, Formats) {
  EXPECT_EQ(format_mbps(2097408), "2.10");
  EXPECT_EQ(format_mbps(std::nan("")), "-");
  EXPECT_EQ(format_seconds(0.000085), "85us");
  EXPECT_EQ(format_seconds(0.0123), "12.30ms");
  EXPECT_EQ(format_seconds(2.5), "2.50s");
  EXPECT_EQ(format_duration(123), "2m03s");
  EXPECT_EQ(format_duration(3 * 3600 + 120), "3h02m");
}

TEST(Render, AgentDownIsSaidAndTargetsAreNotUp) {
  Scrape a = scrape_at(0, agent_text(1)), b = scrape_at(1, agent_text(2));
  View v = build_view(&a, b, "", SortKey::kActivity);
  RenderOptions o;
  o.status = "cannot connect to 127.0.0.1:9476: Connection refused";
  auto lines = render(v, o, Sparklines{});
  std::string all;
  for (const auto& l : lines) all += l.text + "\n";
  EXPECT_NE(all.find("AGENT DOWN: cannot connect"), std::string::npos) << all;
  EXPECT_EQ(all.find("pid-4242 pid 4242 up"), std::string::npos) << all;
  EXPECT_NE(all.find("pid-4242 pid 4242 ?"), std::string::npos) << all;
}

TEST(Render, FiftyByTwelveKeepsTheBusiestStreams) {
  Scrape a = scrape_at(0, agent_text(1) + many_streams(1, 40)), b = scrape_at(1, agent_text(2) + many_streams(2, 40));
  View v = build_view(&a, b, "", SortKey::kActivity);
  std::deque<double> spark{1, 2, 3};
  RenderOptions o;
  o.width = 50;
  o.height = 12;
  o.sort = SortKey::kActivity;
  auto lines = render(v, o, Sparklines{&spark, &spark});
  ASSERT_LE(lines.size(), 12u);
  std::string all;
  for (const auto& l : lines) {
    EXPECT_LE(cells(l.text), 50u) << l.text;
    all += l.text + "\n";
  }
  EXPECT_NE(all.find("STREAM"), std::string::npos) << all;
  EXPECT_NE(all.find("\n  39 "), std::string::npos) << all;  // the busiest stream
  EXPECT_NE(all.find("\n  38 "), std::string::npos) << all;
  EXPECT_NE(all.find("more rows"), std::string::npos) << all;
  EXPECT_NE(all.find("q quit"), std::string::npos) << all;  // the keys stay
}
