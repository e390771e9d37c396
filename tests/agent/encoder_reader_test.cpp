// DWCP's DeltaEncoder totals read from memory (agent/encoder_reader.h): the reader's bounds, and
// the tracker turning reads into growth (EncoderTotals) and the summed baseline count, the way
// DWCP's GetMetrics reports them. Memory is a fake laid out like DWCP's (baselineStates @0,
// totalEncoded @152, totalDecoded @160, deltaHits @168; a map header whose first word is its length).
#include "agent/encoder_reader.h"
#include "word_memory.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace dwcp::agent {
namespace {

profile::EncoderLayout layout() {
  profile::EncoderLayout l;
  l.baselines_off = 0;
  l.encoded_off = 152;
  l.decoded_off = 160;
  l.hits_off = 168;
  return l;
}

struct FakeMemory : testing::WordMemory {
  // An encoder at `at` whose map header is at `map` (0: a nil map).
  void encoder(std::uint64_t at, std::uint64_t map, std::uint64_t baselines, std::uint64_t encoded,
               std::uint64_t decoded, std::uint64_t hits) {
    words[at] = map;
    if (map != 0) words[map] = baselines;
    words[at + 152] = encoded;
    words[at + 160] = decoded;
    words[at + 168] = hits;
  }
};

struct Harness {
  FakeMemory* memory = nullptr;
  std::unique_ptr<EncoderTracker> tracker;
  std::vector<std::string> logs;
  std::vector<log::Level> levels;
  Harness() {
    auto fake = std::make_unique<FakeMemory>();
    memory = fake.get();
    tracker = std::make_unique<EncoderTracker>(std::move(fake), layout(),
                                               log::Logger([this](log::Level level, const std::string& m) {
                                                 logs.push_back(m);
                                                 levels.push_back(level);
                                               }));
  }
};

std::pair<std::uint64_t, std::uint64_t> totals(const std::vector<Event>& events) {
  std::pair<std::uint64_t, std::uint64_t> sum{};
  for (const auto& e : events)
    if (const auto* t = std::get_if<EncoderTotals>(&e)) {
      sum.first += t->encoded;
      sum.second += t->delta_hits;
    }
  return sum;
}

std::vector<std::int64_t> baselines(const std::vector<Event>& events) {
  std::vector<std::int64_t> out;
  for (const auto& e : events)
    if (const auto* b = std::get_if<BaselineCount>(&e)) {
      EXPECT_EQ(b->baseline_type, "delta");
      out.push_back(b->count);
    }
  return out;
}

TEST(EncoderReader, ReadsTotalsAndTheMapsLength) {
  FakeMemory memory;
  memory.encoder(0x10000, 0x20000, 3, 14, 5, 7);
  Result<EncoderFigures> f = read_encoder(memory, layout(), 0x10000);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->encoded, 14u);
  EXPECT_EQ(f->decoded, 5u);
  EXPECT_EQ(f->hits, 7u);
  EXPECT_EQ(f->baselines, 3);
  memory.encoder(0x30000, 0, 0, 0, 0, 0);  // a new encoder: nil map
  f = read_encoder(memory, layout(), 0x30000);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->baselines, 0);
}

TEST(EncoderReader, RefusesWhatNoEncoderHolds) {
  FakeMemory memory;
  EXPECT_FALSE(read_encoder(memory, layout(), 0));
  EXPECT_FALSE(read_encoder(memory, layout(), 0x10001)) << "unaligned";
  const Result<EncoderFigures> unmapped = read_encoder(memory, layout(), 0x10000);
  ASSERT_FALSE(unmapped);
  EXPECT_EQ(unmapped.failure().code, EFAULT);    // the read's own errno travels with the error
  memory.encoder(0x10000, 0x20003, 3, 9, 0, 2);  // the map is no pointer
  EXPECT_FALSE(read_encoder(memory, layout(), 0x10000));
  memory.encoder(0x10000, 0x20000, std::uint64_t{1} << 40, 9, 0, 2);  // a length no map has
  const Result<EncoderFigures> implausible = read_encoder(memory, layout(), 0x10000);
  ASSERT_FALSE(implausible);
  EXPECT_NE(implausible.error().find("implausible"), std::string::npos) << implausible.error();
  memory.encoder(0x10000, 0x20000, 3, std::uint64_t{1} << 50, 0, 2);  // totals no encoder reaches
  EXPECT_FALSE(read_encoder(memory, layout(), 0x10000));
}

// Freed memory reused by something else once read a pointer as totalEncoded (4.8e13 encodes in one
// 200 ms read): forgotten like a freed encoder, never charged; what it counted before stays.
TEST(EncoderTracker, AnImplausibleJumpIsForgottenNeverCharged) {
  Harness h;
  h.memory->encoder(0x10000, 0x20000, 3, 14, 2, 7);
  std::vector<Event> out;
  h.tracker->seen(0x10000, &out);
  h.memory->words[0x10000 + 152] = 47950902020231;
  h.memory->words[0x10000 + 168] = 0;
  h.tracker->refresh(&out);
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{14}, std::uint64_t{7}));
  EXPECT_EQ(baselines(out), (std::vector<std::int64_t>{3, 0}));
  EXPECT_EQ(h.tracker->tracked(), 0u);
  ASSERT_EQ(h.logs.size(), 1u);
  EXPECT_NE(h.logs[0].find("freed memory"), std::string::npos) << h.logs[0];
}

// DWCP updates totalEncoded and deltaHits under a lock the agent does not take: a read between the
// two increments has more hits than encodes. It is skipped, never charged, and the next read is whole.
TEST(EncoderTracker, ATornReadIsSkipped) {
  Harness h;
  h.memory->encoder(0x10000, 0x20000, 3, 5, 0, 5);
  std::vector<Event> out;
  h.tracker->seen(0x10000, &out);
  h.memory->words[0x10000 + 168] = 6;  // deltaHits++ seen, totalEncoded++ not yet
  h.tracker->refresh(&out);
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{5}, std::uint64_t{5}));
  h.memory->words[0x10000 + 152] = 6;
  h.tracker->refresh(&out);
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{6}, std::uint64_t{6}));
  EXPECT_EQ(h.tracker->tracked(), 1u);
}

// First sight counts what the encoder did before the attach (DWCP's figure is cumulative); later
// reads add growth only; baselines are the sum over encoders, sent when it changes.
TEST(EncoderTracker, ChargesGrowthFromDwcpsOwnTotals) {
  Harness h;
  h.memory->encoder(0x10000, 0x20000, 3, 14, 2, 7);
  std::vector<Event> out;
  h.tracker->seen(0x10000, &out);
  h.tracker->seen(0x10000, &out);  // known: nothing more
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{14}, std::uint64_t{7}));
  EXPECT_EQ(baselines(out), (std::vector<std::int64_t>{3}));
  h.memory->encoder(0x50000, 0x60000, 2, 4, 0, 1);  // a second encoder
  out.clear();
  h.tracker->seen(0x50000, &out);
  h.memory->words[0x10000 + 152] = 16;  // two more encodes, one a hit, a baseline pruned
  h.memory->words[0x10000 + 168] = 8;
  h.memory->words[0x20000] = 2;
  h.tracker->refresh(&out);
  h.tracker->refresh(&out);  // unchanged: nothing
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{4 + 2}, std::uint64_t{1 + 1}));
  EXPECT_EQ(baselines(out), (std::vector<std::int64_t>{5, 4}));
}

// An encoder that cannot be read any more was freed: forgotten with its baselines. Totals that went
// back are a new encoder at the freed one's address: counted from zero, never a negative growth.
TEST(EncoderTracker, AFreedEncoderIsForgottenNeverSubtracted) {
  Harness h;
  h.memory->encoder(0x10000, 0x20000, 3, 14, 2, 7);
  h.memory->encoder(0x50000, 0x60000, 2, 4, 0, 1);
  std::vector<Event> out;
  h.tracker->seen(0x10000, &out);
  h.tracker->seen(0x50000, &out);
  h.memory->words[0x10000 + 152] = 1;  // a new encoder there: one encode, no hit, one baseline
  h.memory->words[0x10000 + 168] = 0;
  h.memory->words[0x20000] = 1;
  h.memory->words.erase(0x50000 + 160);  // unmapped
  out.clear();
  h.tracker->refresh(&out);
  EXPECT_EQ(totals(out), std::make_pair(std::uint64_t{1}, std::uint64_t{0}));
  EXPECT_EQ(baselines(out), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(h.tracker->tracked(), 1u);
}

}  // namespace
}  // namespace dwcp::agent
