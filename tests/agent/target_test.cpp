// One target (agent/target.h) without BPF: its process's events reach its model through its
// decoder and readers (what those read decides what the decoder counts), another process's do
// not; detaching hands back every link, the per-operation probes' too, and stops counting; the
// bandwidth gauge, the probes' "sampled" state and a rejected process, as the agent uses them.
#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <string>

#include "agent/target.h"
#include "word_memory.h"

namespace dwcp::agent {
namespace {

constexpr int kPid = 4242;

// The value of the series of `family` whose labels hold `label` ("" when there is none).
std::string series(const std::shared_ptr<ModelRegistry>& registry, const std::string& family,
                   const std::string& label) {
  std::istringstream text(render_text({registry}));
  for (std::string line; std::getline(text, line);)
    if (line.rfind(family + "{", 0) == 0 && line.find(label) != std::string::npos)
      return line.substr(line.rfind(' ') + 1);
  return "";
}

dwcp_event send_chunk(std::uint32_t tgid, std::int64_t stream, std::int64_t bytes) {
  dwcp_event e{};
  e.kind = DWCP_EV_SEND_CHUNK;
  e.tgid = tgid;
  e.flags = DWCP_EVF_PAIRED;
  e.val[DWCP_SLOT_ID] = stream;
  e.val[DWCP_SLOT_BYTES] = bytes;
  return e;
}

log::Logger quiet() {
  return log::Logger([](log::Level, const std::string&) {});
}

// A link the test can hand around: an eventfd, closed when the link goes.
Link fake_link() { return Link::from_fd(eventfd(0, EFD_CLOEXEC)); }

struct Fixture {
  std::shared_ptr<ModelRegistry> registry = std::make_shared<ModelRegistry>();
  SessionMetrics session_metrics;
  Target target{TargetSpec{kPid, "", "", "pid-4242"}, std::make_unique<MetricsModel>(registry, ModelOptions{})};

  // Attached to kPid; `layout`: DWCP's stream counters are read (then chunk probes count no bytes).
  void attach(std::optional<profile::SessionLayout> layout, int shared_links = 0, int sampled_links = 0) {
    Attachment a;
    a.process.pid = kPid;
    for (int i = 0; i < shared_links; ++i) a.links.push_back(fake_link());
    for (int i = 0; i < sampled_links; ++i) a.per_operation[7].links.push_back(fake_link());
    a.per_operation[7].sites.push_back({0x1000, 14});
    a.sites = 3;
    a.probe_states = {{"send", "attached"}, {"send_chunk", "attached"}, {"hde", "absent"}};
    a.sessions = std::make_unique<SessionTracker>(std::make_unique<testing::WordMemory>(), layout,
                                                  session_metrics.target(kPid), quiet());
    target.attach(std::move(a));
  }
};

TEST(Target, ItsProcessesEventsFeedItsModelAndOthersDoNot) {
  Fixture f;
  f.target.handle(send_chunk(kPid, 3, 72));  // not attached yet
  EXPECT_EQ(series(f.registry, "dwcp_amst_bytes_sent_total", "stream_id=\"3\""), "");
  f.attach(std::nullopt);
  ASSERT_TRUE(f.target.attached_to(kPid));
  f.target.handle(send_chunk(kPid, 3, 72));
  f.target.handle(send_chunk(kPid + 1, 3, 1000));  // another process's event
  EXPECT_EQ(series(f.registry, "dwcp_amst_bytes_sent_total", "stream_id=\"3\""), "72");
}

TEST(Target, WhereDwcpsCountersAreReadChunkProbesCountNoBytes) {
  Fixture f;
  f.attach(testing::small_session_layout());
  f.target.handle(send_chunk(kPid, 3, 72));
  // Counted twice otherwise: once from the probe, once from DWCP's own counter.
  const std::string sent = series(f.registry, "dwcp_amst_bytes_sent_total", "stream_id=\"3\"");
  EXPECT_TRUE(sent.empty() || sent == "0") << sent;
}

TEST(Target, DetachHandsBackEveryLinkAndStopsCounting) {
  Fixture f;
  f.attach(std::nullopt, 2, 1);
  EXPECT_EQ(f.target.sites(), 3u);
  EXPECT_EQ(f.target.sampled_probe_ids(), std::vector<std::uint32_t>{7});
  f.target.detach_sampled(7);  // a sampling window's end
  f.target.handle(send_chunk(kPid, 1, 10));
  std::vector<Link> links = f.target.detach();
  EXPECT_EQ(links.size(), 2u);  // the sampled probe's link went at its window's end
  EXPECT_FALSE(f.target.attached());
  EXPECT_EQ(f.target.sites(), 0u);
  EXPECT_TRUE(f.target.sampled_probe_ids().empty());
  f.target.handle(send_chunk(kPid, 1, 10));
  f.target.read_figures();
  EXPECT_EQ(series(f.registry, "dwcp_amst_bytes_sent_total", "stream_id=\"1\""), "10");

  Fixture g;
  g.attach(std::nullopt, 1, 2);
  EXPECT_EQ(g.target.detach().size(), 3u);  // the per-operation probes' links too
}

TEST(Target, BandwidthUtilizationIsWhatItsSocketsSentAgainstTheCapacity) {
  Fixture f;
  f.attach(std::nullopt);
  const auto t0 = std::chrono::steady_clock::now();
  dwcp_sock_stats stats{};
  stats.bytes_sent = 1000;
  f.target.sample_bandwidth(stats, t0, 2e6);                                         // the baseline only
  EXPECT_EQ(series(f.registry, "dwcp_amst_bandwidth_utilization_percent", ""), "");  // nothing measured yet
  stats.bytes_sent += 125000;                                                        // 1 Mbit in 1 s of a 2 Mbit/s link
  f.target.sample_bandwidth(stats, t0 + std::chrono::seconds(1), 2e6);
  EXPECT_EQ(series(f.registry, "dwcp_amst_bandwidth_utilization_percent", ""), "50");
}

TEST(Target, SampledProbesShowSampledWhereAttached) {
  Fixture f;
  f.attach(std::nullopt);
  const auto states = f.target.probe_states({"send", "hde"});
  ASSERT_EQ(states.size(), 3u);
  EXPECT_STREQ(states[0].second, "sampled");
  EXPECT_STREQ(states[1].second, "attached");
  EXPECT_STREQ(states[2].second, "absent");  // a probe not attached stays what it is
}

TEST(Target, ARejectedProcessIsKnownByPidAndStartTime) {
  Fixture f;
  ProcessInfo process;
  process.pid = 77;
  process.start_time = 1000;
  EXPECT_FALSE(f.target.rejected(process));
  f.target.reject(process);
  EXPECT_TRUE(f.target.rejected(process));
  process.start_time = 2000;  // the PID reused by another process
  EXPECT_FALSE(f.target.rejected(process));
}

}  // namespace
}  // namespace dwcp::agent
