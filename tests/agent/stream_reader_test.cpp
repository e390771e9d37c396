// Per-stream bytes from DWCP's own counters (agent/stream_reader.h): the table reader's bounds,
// and the decoder + session tracker turning probe events, memory reads and Close's final figures
// into exact per-stream deltas, adoption and per-session closes. Memory is a fake laid out like
// DWCP's (MultiStreamTCP.streams @16, numStreams @40; StreamConn id @8, sent @16, recv @24), plus
// one real process_vm_readv of this process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "agent/decoder.h"
#include "agent/stream_reader.h"
#include "agent/target_reads.h"
#include "word_memory.h"

namespace dwcp::agent {
namespace {

// Sparse fake memory: 8-byte words by address.
struct FakeMemory : MemoryReader {
  std::map<std::uint64_t, std::uint64_t> words;
  int reads = 0;
  Result<void> read(const std::vector<Range>& ranges) override {
    ++reads;
    for (const auto& r : ranges) {
      auto* out = static_cast<unsigned char*>(r.out);
      for (std::size_t off = 0; off < r.len; off += 8) {
        auto it = words.find(r.addr + off);
        if (it == words.end()) return Error{"EFAULT", EFAULT};
        std::memcpy(out + off, &it->second, std::min<std::size_t>(8, r.len - off));
      }
    }
    return {};
  }
  // A session at `session` whose table at `data` holds streams at `streams` (id = index).
  void session(std::uint64_t session, std::uint64_t data, const std::vector<std::uint64_t>& streams,
               std::int64_t num_streams) {
    words[session + 16] = data;
    words[session + 24] = streams.size();
    words[session + 32] = streams.size();
    words[session + 40] = static_cast<std::uint64_t>(num_streams);
    for (std::size_t i = 0; i < streams.size(); ++i) {
      words[data + 8 * i] = streams[i];
      set(streams[i], i, 0, 0);
    }
  }
  void set(std::uint64_t stream, std::int64_t id, std::uint64_t sent, std::uint64_t recv) {
    words[stream + 8] = static_cast<std::uint64_t>(id);
    words[stream + 16] = sent;
    words[stream + 24] = recv;
  }
};

struct Harness {
  FakeMemory* memory = nullptr;
  SessionMetrics metrics;
  std::unique_ptr<SessionTracker> tracker;
  // Sessions tracked and their counters read: what the agent configures with a layout.
  EventDecoder decoder{DecoderConfig{0, true, true, false}};
  std::vector<std::string> logs;
  std::vector<log::Level> levels;
  Harness() {
    auto fake = std::make_unique<FakeMemory>();
    memory = fake.get();
    tracker = std::make_unique<SessionTracker>(std::move(fake), testing::small_session_layout(), metrics.target(1),
                                               log::Logger([this](log::Level level, const std::string& m) {
                                                 logs.push_back(m);
                                                 levels.push_back(level);
                                               }));
  }
  std::vector<Event> decode(std::uint16_t kind, std::uint64_t session, std::map<int, std::int64_t> vals = {},
                            std::uint32_t flags = DWCP_EVF_PAIRED) {
    dwcp_event e{};
    e.kind = kind;
    e.flags = flags;
    e.val[DWCP_SLOT_SESSION] = static_cast<std::int64_t>(session);
    for (auto [slot, v] : vals) e.val[slot] = v;
    std::vector<Decoded> decoded;
    decoder.decode(e, &decoded);
    std::vector<Event> out;
    carry_out(decoded, tracker.get(), nullptr, &out);
    return out;
  }
};

// Sum of StreamBytes per id in `events`.
std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> bytes(const std::vector<Event>& events) {
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& e : events)
    if (const auto* b = std::get_if<StreamBytes>(&e)) {
      out[b->stream_id].first += b->sent;
      out[b->stream_id].second += b->received;
    }
  return out;
}

TEST(StreamTable, ReadsAndBoundsUntrustedTables) {
  FakeMemory memory;
  memory.session(0x10000, 0x20000, {0x30000, 0x30100}, 2);
  memory.set(0x30100, 1, 500, 7);
  Result<StreamTable> table = read_stream_table(memory, testing::small_session_layout(), 0x10000);
  ASSERT_TRUE(table) << table.error();
  ASSERT_EQ(table->streams.size(), 2u);
  EXPECT_EQ(table->streams[1].id, 1);
  EXPECT_EQ(table->streams[1].sent, 500u);
  EXPECT_EQ(table->streams[1].received, 7u);

  memory.words[0x10000 + 24] = 3;  // len > cap
  table = read_stream_table(memory, testing::small_session_layout(), 0x10000);
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().find("implausible"), std::string::npos) << table.error();
  memory.words[0x10000 + 24] = 2;
  memory.words[0x20000 + 8] = 0x30101;  // misaligned stream pointer
  EXPECT_FALSE(read_stream_table(memory, testing::small_session_layout(), 0x10000));
  memory.words[0x20000 + 8] = 0x30100;
  memory.words[0x30100 + 8] = static_cast<std::uint64_t>(-1);  // negative id: freed or wrong layout
  EXPECT_FALSE(read_stream_table(memory, testing::small_session_layout(), 0x10000));
  EXPECT_FALSE(read_stream_table(memory, testing::small_session_layout(), 0));
  table = read_stream_table(memory, testing::small_session_layout(), 0x90000);  // unmapped: the read's errno travels
  ASSERT_FALSE(table);
  EXPECT_EQ(table.failure().code, EFAULT);
}

TEST(StreamTable, ReadsAtMostTheBound) {
  FakeMemory memory;
  std::vector<std::uint64_t> streams;
  for (int i = 0; i < 100; ++i) streams.push_back(0x40000 + 0x100 * i);
  memory.session(0x10000, 0x20000, streams, 100);
  Result<StreamTable> table = read_stream_table(memory, testing::small_session_layout(), 0x10000, 64);
  ASSERT_TRUE(table) << table.error();
  EXPECT_EQ(table->length, 100u);
  EXPECT_EQ(table->streams.size(), 64u);
  table = read_stream_table(memory, testing::small_session_layout(), 0x10000);
  ASSERT_TRUE(table) << table.error();
  EXPECT_EQ(table->streams.size(), 100u);
}

TEST(StreamTable, ProcessVmReadvReadsThisProcess) {
  struct {
    std::uint64_t pad, id, sent, recv;
  } stream{0, 3, 1234, 99};
  const void* table[1] = {&stream};
  struct {
    std::uint64_t remote[2];
    std::uint64_t data, len, cap;
    std::int64_t num;
  } session{{0, 0}, reinterpret_cast<std::uint64_t>(table), 1, 1, 1};
  ProcessMemory memory(getpid());
  const Result<StreamTable> out =
      read_stream_table(memory, testing::small_session_layout(), reinterpret_cast<std::uint64_t>(&session));
  ASSERT_TRUE(out) << out.error();
  ASSERT_EQ(out->streams.size(), 1u);
  EXPECT_EQ(out->streams[0].id, 3);
  EXPECT_EQ(out->streams[0].sent, 1234u);
  EXPECT_EQ(out->streams[0].received, 99u);
  // An address this process has not mapped: the kernel's errno, in the message and the error.
  const Result<StreamTable> unmapped = read_stream_table(memory, testing::small_session_layout(), 0x1000);
  ASSERT_FALSE(unmapped);
  EXPECT_EQ(unmapped.failure().code, EFAULT) << unmapped.error();
  EXPECT_NE(unmapped.error().find("process_vm_readv"), std::string::npos) << unmapped.error();
}

TEST(SessionTracker, CountersAreChargedAsDeltasPerStreamIdAcrossSessions) {
  Harness h;
  const std::uint64_t a = 0x10000, b = 0x50000;
  h.memory->session(a, 0x20000, {0x30000, 0x30100}, 2);
  h.memory->session(b, 0x60000, {0x70000, 0x70100}, 2);
  // Probes first see each session in Start (createStream events): both adopted, then opened.
  auto out = h.decode(DWCP_EV_STREAM_OPEN, a, {{DWCP_SLOT_ID, 0}});
  ASSERT_EQ(out.size(), 2u);  // adopted {0, 1}, opened 0
  EXPECT_EQ(std::get<StreamsAdopted>(out[0]).stream_ids, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(std::get<StreamOpened>(out[1]).session, a);
  h.decode(DWCP_EV_SEND, b);
  h.memory->set(0x30000, 0, 100, 0);
  h.memory->set(0x70000, 0, 40, 0);
  h.memory->set(0x70100, 1, 8, 0);
  std::vector<Event> refreshed;
  h.tracker->refresh(&refreshed);
  EXPECT_EQ(bytes(refreshed)["0"].first, 140u);
  EXPECT_EQ(bytes(refreshed)["1"].first, 8u);
  refreshed.clear();
  h.tracker->refresh(&refreshed);
  EXPECT_TRUE(bytes(refreshed).empty());  // nothing new

  // Close of a: its final figures from BPF (only the growth since the last read is charged),
  // then its return closes only a's streams and stops reading it.
  out =
      h.decode(DWCP_EV_STREAM_FINAL, a,
               {{DWCP_SLOT_FINAL_STREAM_ID, 0}, {DWCP_SLOT_FINAL_SENT, 150}, {DWCP_SLOT_FINAL_STREAM_PTR, 0x30000}}, 0);
  EXPECT_EQ(bytes(out)["0"].first, 50u);
  out =
      h.decode(DWCP_EV_STREAM_FINAL, a,  // the same figures again (a second Close): nothing
               {{DWCP_SLOT_FINAL_STREAM_ID, 0}, {DWCP_SLOT_FINAL_SENT, 150}, {DWCP_SLOT_FINAL_STREAM_PTR, 0x30000}}, 0);
  EXPECT_TRUE(bytes(out).empty());
  out = h.decode(DWCP_EV_SESSION_CLOSE, a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<SessionClosed>(out[0]).session, a);
  EXPECT_EQ(h.tracker->live_sessions(), 1u);
  const int reads = h.memory->reads;
  refreshed.clear();
  h.tracker->refresh(&refreshed);
  EXPECT_EQ(h.memory->reads, reads + 3);  // b only: its slice, its pointers, its streams
}

TEST(SessionTracker, AdoptsRunningSessionsWithTheirBytesAndNeverStartedOnesCloseNothing) {
  Harness h;
  const std::uint64_t running = 0x10000, receiver = 0x50000, never = 0x90000;
  h.memory->session(running, 0x20000, {0x30000, 0x30100, 0x30200}, 3);
  h.memory->set(0x30100, 1, 1000, 0);
  h.memory->session(receiver, 0x60000, {0x70000}, 0);  // accepted streams: not its own
  h.memory->set(0x70000, 0, 0, 777);
  h.memory->session(never, 0xa0000, {}, 4);
  auto out = h.decode(DWCP_EV_SEND, running);
  EXPECT_EQ(std::get<StreamsAdopted>(out[0]).stream_ids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(bytes(out)["1"].first, 1000u);  // bytes before the attach: DWCP's own counters
  out = h.decode(DWCP_EV_RECEIVE, receiver);
  EXPECT_EQ(bytes(out)["0"].second, 777u);
  for (const auto& e : out) EXPECT_FALSE(std::holds_alternative<StreamsAdopted>(e));
  out = h.decode(DWCP_EV_SESSION_CLOSE, never);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<SessionClosed>(out[0]));
}

TEST(SessionTracker, StreamsBeyondWhatBpfReadsAtCloseAreReadThroughTheSavedTable) {
  Harness h;
  const std::uint64_t big = 0x100000, array = 0x180000;
  std::vector<std::uint64_t> streams;
  for (int i = 0; i < 10; ++i) streams.push_back(0x200000 + 0x100 * i);
  h.memory->session(big, array, streams, 0);
  h.decode(DWCP_EV_RECEIVE, big);  // first read: 10 streams
  // 70 more accepted before Close, with no read in between: only BPF's table length says so.
  for (int i = 10; i < 80; ++i) streams.push_back(0x200000 + 0x100 * i);
  h.memory->session(big, array, streams, 0);
  for (int i = 0; i < 80; ++i) h.memory->set(streams[i], i, 0, 10);
  // As DWCP's Close does before it returns: m.streams = nil. The array itself stays.
  h.memory->words[big + 16] = h.memory->words[big + 24] = h.memory->words[big + 32] = 0;
  std::vector<Event> out;
  for (int i = 0; i < DWCP_MAX_SESSION_STREAMS; ++i) {  // what BPF sends as Close returns
    auto finals = h.decode(DWCP_EV_STREAM_FINAL, big,
                           {{DWCP_SLOT_FINAL_STREAM_ID, i},
                            {DWCP_SLOT_FINAL_RECV, 10},
                            {DWCP_SLOT_FINAL_STREAM_PTR, static_cast<std::int64_t>(streams[i])},
                            {DWCP_SLOT_FINAL_TABLE_LEN, 80},
                            {DWCP_SLOT_FINAL_TABLE_PTR, array}},
                           0);
    out.insert(out.end(), finals.begin(), finals.end());
  }
  auto closed = h.decode(DWCP_EV_SESSION_CLOSE, big);
  out.insert(out.end(), closed.begin(), closed.end());
  std::uint64_t received = 0;
  for (const auto& [id, figures] : bytes(out)) received += figures.second;
  EXPECT_EQ(received, 80u * 10);
}

TEST(SessionTracker, UnreadableSessionsAndFreedMemoryFallBackVisibly) {
  Harness h;
  const std::uint64_t lost = 0x10000, freed = 0x50000;
  h.decode(DWCP_EV_SEND, lost);  // nothing mapped there
  ASSERT_EQ(h.logs.size(), 1u);
  EXPECT_EQ(h.levels[0], log::Level::kWarn);  // bytes go uncounted: the operator is warned
  EXPECT_NE(h.logs[0].find("(EFAULT)"), std::string::npos) << h.logs[0];
  h.memory->session(freed, 0x60000, {0x70000}, 1);
  h.memory->set(0x70000, 0, 500, 0);
  h.decode(DWCP_EV_SEND, freed);
  h.memory->set(0x70000, 9, 3, 0);  // the session was freed without Close and the memory reused
  std::vector<Event> out;
  h.tracker->refresh(&out);
  EXPECT_TRUE(bytes(out).empty());
  h.memory->set(0x70000, 0, 900, 0);
  h.tracker->refresh(&out);
  EXPECT_TRUE(bytes(out).empty());  // no longer read
  EXPECT_EQ(h.logs.size(), 1u);     // one line per target; the metric counts the rest
}

TEST(SessionTracker, WithoutALayoutChunkProbesCountTheBytes) {
  SessionMetrics metrics;
  SessionTracker tracker(std::make_unique<FakeMemory>(), std::nullopt, metrics.target(2),
                         log::Logger([](log::Level, const std::string&) {}));
  EventDecoder decoder{DecoderConfig{0, true, tracker.reads_counters(), false}};
  dwcp_event e{};
  e.kind = DWCP_EV_SEND_CHUNK;
  e.flags = DWCP_EVF_PAIRED;
  e.val[DWCP_SLOT_ID] = 2;
  e.val[DWCP_SLOT_BYTES] = 72;
  e.val[DWCP_SLOT_SESSION] = 0x10000;
  std::vector<Decoded> decoded;
  decoder.decode(e, &decoded);
  std::vector<Event> out;
  carry_out(decoded, &tracker, nullptr, &out);
  EXPECT_EQ(bytes(out)["2"].first, 72u);

  Harness h;  // with a layout, the same event counts no bytes: the counters do
  h.memory->session(0x10000, 0x20000, {}, 0);
  std::vector<Event> counted = h.decode(DWCP_EV_SEND_CHUNK, 0x10000, {{DWCP_SLOT_ID, 2}, {DWCP_SLOT_BYTES, 72}});
  EXPECT_TRUE(bytes(counted).empty());
}

}  // namespace

namespace {
// The shipped layout's optional fields at their DWCP offsets: activeStreams @96, started @240,
// StreamConn.reconnects @72 (4-byte fields, stored in their own words here).
profile::SessionLayout full_layout() {
  profile::SessionLayout l = testing::small_session_layout();
  l.active_off = 96;
  l.started_off = 240;
  l.reconnects_off = 72;
  return l;
}

struct FullHarness : Harness {
  FullHarness() {
    auto fake = std::make_unique<FakeMemory>();
    memory = fake.get();
    tracker = std::make_unique<SessionTracker>(std::move(fake), full_layout(), metrics.target(2),
                                               log::Logger([this](log::Level level, const std::string& m) {
                                                 logs.push_back(m);
                                                 levels.push_back(level);
                                               }));
  }
  void session(std::uint64_t at, std::uint64_t data, const std::vector<std::uint64_t>& streams, std::int64_t active,
               bool started) {
    memory->session(at, data, streams, static_cast<std::int64_t>(streams.size()));
    memory->words[at + 96] = static_cast<std::uint64_t>(active);
    memory->words[at + 240] = started ? 1 : 0;
    for (auto stream : streams)  // the words between the counters and reconnects (read in one span)
      for (std::uint64_t off = 32; off <= 72; off += 8) memory->words[stream + off] = 0;
  }
};

std::vector<std::int64_t> actives(const std::vector<Event>& events) {
  std::vector<std::int64_t> out;
  for (const auto& e : events)
    if (const auto* a = std::get_if<ActiveStreams>(&e)) out.push_back(a->count);
  return out;
}
}  // namespace

// dwcp_amst_streams_active is DWCP's own activeStreams: the health check lowers it without any
// Close, and a session whose Start failed (started false) holds none and is not a session.
TEST(SessionTracker, ActiveStreamsAndStartedAreDwcpsOwn) {
  FullHarness h;
  const std::uint64_t s = 0x100000;
  h.session(s, 0x180000, {0x200000, 0x200100, 0x200200}, 3, true);
  auto out = h.decode(DWCP_EV_SEND, s);
  EXPECT_EQ(actives(out), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(h.tracker->live_sessions(), 1u);
  h.memory->words[s + 96] = 2;  // the health check found one stream unhealthy
  out.clear();
  h.tracker->refresh(&out);
  EXPECT_EQ(actives(out), (std::vector<std::int64_t>{2}));
  out.clear();
  h.tracker->refresh(&out);
  EXPECT_TRUE(actives(out).empty()) << "unchanged: not sent again";

  const std::uint64_t failed = 0x300000;  // Start failed: no stream, started false
  h.session(failed, 0x380000, {}, 0, false);
  out = h.decode(DWCP_EV_SESSION_START, failed, {{DWCP_SLOT_ERR, 1}});
  EXPECT_EQ(h.tracker->live_sessions(), 1u) << "a session whose Start failed is not counted";
}

// AdjustStreams cuts the table before it returns: the streams it closed get their finals through
// the saved table; the streams left and the new count are read as it returns.
TEST(SessionTracker, AdjustStreamsShrinkChargesTheRemovedStreamsOnce) {
  FullHarness h;
  const std::uint64_t s = 0x100000, array = 0x180000;
  const std::vector<std::uint64_t> streams = {0x200000, 0x200100, 0x200200, 0x200300};
  h.session(s, array, streams, 4, true);
  h.decode(DWCP_EV_SEND, s);
  for (int i = 0; i < 4; ++i) h.memory->set(streams[i], i, 1000, 0);
  // AdjustStreams(…) down to 2: m.streams = m.streams[:2], activeStreams = 2.
  h.memory->words[s + 24] = 2;
  h.memory->words[s + 96] = 2;
  std::vector<Event> out;
  for (int i = 0; i < 4; ++i) {
    auto finals = h.decode(DWCP_EV_STREAM_FINAL, s,
                           {{DWCP_SLOT_FINAL_STREAM_ID, i},
                            {DWCP_SLOT_FINAL_SENT, 1000},
                            {DWCP_SLOT_FINAL_STREAM_PTR, static_cast<std::int64_t>(streams[i])},
                            {DWCP_SLOT_FINAL_TABLE_LEN, 4},
                            {DWCP_SLOT_FINAL_TABLE_PTR, array}},
                           0);
    out.insert(out.end(), finals.begin(), finals.end());
  }
  auto adjusted = h.decode(DWCP_EV_ADJUST_STREAMS, s);
  out.insert(out.end(), adjusted.begin(), adjusted.end());
  for (int round = 0; round < 6; ++round) h.tracker->refresh(&out);  // the removed ones are forgotten
  const auto sums = bytes(out);
  ASSERT_EQ(sums.size(), 4u);
  for (const auto& [id, figures] : sums) EXPECT_EQ(figures.first, 1000u) << id;
  EXPECT_EQ(actives(out), (std::vector<std::int64_t>{2}));
}

// A successful reconnect is no error (DWCP counts it in StreamConn.reconnects); a failed one is
// DWCP's own error "reconnect_failed".
TEST(SessionTracker, ReconnectsAreCountedAsDwcpCountsThem) {
  FullHarness h;
  const std::uint64_t s = 0x100000;
  h.session(s, 0x180000, {0x200000}, 1, true);
  auto out = h.decode(DWCP_EV_RECONNECT, s, {{DWCP_SLOT_ID, 0}});
  for (const auto& e : out) EXPECT_FALSE(std::holds_alternative<StreamError>(e));
  h.memory->words[0x200000 + 72] = 1;
  h.tracker->refresh(&out);
  out = h.decode(DWCP_EV_RECONNECT, s, {{DWCP_SLOT_ID, 0}, {DWCP_SLOT_ERR, 1}});
  ASSERT_EQ(out.size(), 1u);
  const auto* error = std::get_if<StreamError>(&out[0]);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->error_type, "reconnect_failed");
}

// Issue 20: the target writes its own memory (through /proc/PID/mem, as any user running DWCP can).
TEST(SessionTracker, CountersForcedBackwardsOrNearTwoToTheSixtyFourAreRefusedNotExported) {
  Harness h;
  const std::uint64_t a = 0x50000, b = 0x150000;
  h.memory->session(a, 0x60000, {0x70000}, 1);
  h.memory->session(b, 0x160000, {0x170000}, 1);
  h.memory->set(0x70000, 0, 1000, 0);
  h.memory->set(0x170000, 0, 1000, 0);
  EXPECT_EQ(bytes(h.decode(DWCP_EV_SEND, a))["0"].first, 1000u);
  EXPECT_EQ(bytes(h.decode(DWCP_EV_SEND, b))["0"].first, 1000u);
  h.memory->set(0x70000, 0, 500, 0);                      // backwards
  h.memory->set(0x170000, 0, ~std::uint64_t{0} - 10, 0);  // near 2^64: the sum would wrap
  std::vector<Event> out;
  h.tracker->refresh(&out);
  h.memory->set(0x70000, 0, 2000, 0);  // and forwards again: the session is read no more
  h.tracker->refresh(&out);
  EXPECT_TRUE(bytes(out).empty());
  EXPECT_EQ(h.tracker->tracked_streams(), 0u);
  const auto families = h.metrics.registry()->Collect();
  std::map<std::string, double> refused;
  for (const auto& f : families)
    if (f.name == "dwcp_observer_amst_stream_counters_refused_total")
      for (const auto& m : f.metric)
        for (const auto& l : m.label)
          if (l.name == "reason") refused[l.value] = m.counter.value;
  EXPECT_EQ(refused["decrease"], 1);
  EXPECT_EQ(refused["jump"], 1);
}

TEST(SessionTracker, ChurningStreamPointersKeepTheTablesBounded) {
  Harness h;
  const std::uint64_t session = 0x50000, data = 0x60000;
  std::vector<std::uint64_t> streams(kMaxReadStreams);
  for (std::size_t i = 0; i < streams.size(); ++i) streams[i] = 0x1000000 + 0x100 * i;
  h.memory->session(session, data, streams, static_cast<std::int64_t>(streams.size()));
  h.decode(DWCP_EV_SEND, session);
  std::vector<Event> out;
  std::uint64_t next = 0x2000000;
  for (int round = 0; round < 40; ++round) {
    // Every stream pointer new at every read, each with a few bytes.
    for (std::size_t i = 0; i < streams.size(); ++i, next += 0x100) {
      h.memory->words[data + 8 * i] = next;
      h.memory->set(next, static_cast<std::int64_t>(i), 10, 10);
    }
    h.tracker->refresh(&out);
    EXPECT_LE(h.tracker->tracked_streams(), 4 * kMaxReadStreams);
    out.clear();
  }
}

}  // namespace dwcp::agent
