// The BPF unit tier: the observer's uprobe handler (bpf/uprobe_handler.bpf.h) run through
// BPF_PROG_TEST_RUN with synthetic Go registers pointing at memory this process prepared. Each
// test writes probe specs as the agent does and compares the ring buffer's events and the loss
// counters with what the registers and memory hold. Needs root and a kernel that test-runs raw_tp
// programs (5.10+); otherwise every test is skipped and main() reports the suite as skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include "bpf_unit.h"
#include "uprobe_test.skel.h"

namespace dwcp::bpf_unit {
namespace {

constexpr std::uint32_t kRingBytes = 16 * 1024;  // small, so that filling it takes ~80 events
constexpr std::uint16_t kProbe = 5;
constexpr std::uint32_t kEntry = 2 * kProbe, kExit = 2 * kProbe + 1;
constexpr std::uint64_t kG1 = 0xc000001000, kG2 = 0xc000002000;
// Not nil, never mapped (below mmap_min_addr): every read there fails.
constexpr std::uint64_t kBadPointer = 0x10;

// Go-like memory: a struct reached through a pointer, with a pointer to another.
struct Inner {
  std::int64_t pad;
  std::int64_t length;
};
struct Outer {
  std::uint64_t pad;
  std::uint8_t flag;
  std::uint16_t u16;
  std::uint32_t u32;
  Inner* inner;
};

std::string& unavailable() {
  static std::string why;
  return why;
}

class UprobeHandler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      unavailable() = "needs root (loads BPF programs and test-runs them)";
      return;
    }
    // A load failure is a failure (the verifier refused the handler), not a skip: object_ stays
    // null and every test fails in SetUp.
    std::string error;
    auto object = std::make_unique<TestObject>(kRingBytes, nullptr, &error);
    ASSERT_TRUE(*object) << error;
    // BPF_PROG_TEST_RUN of a raw_tp program exists since Linux 5.10: say so when it is missing.
    // (A spec index past the map: the handler returns at once.)
    std::uint32_t retval = 0;
    const int err = object->run(DWCP_MAX_SPECS, Regs{}, &retval);
    if (err == -ENOTSUPP_ || err == -EINVAL || err == -EOPNOTSUPP) {
      unavailable() = "this kernel cannot BPF_PROG_TEST_RUN a raw_tp program (Linux 5.10+): " + std::to_string(err);
      return;
    }
    ASSERT_EQ(err, 0) << std::strerror(-err);
    object_ = object.release();
  }
  static void TearDownTestSuite() {
    delete object_;
    object_ = nullptr;
  }
  void SetUp() override {
    if (!unavailable().empty()) GTEST_SKIP() << unavailable();
    ASSERT_NE(object_, nullptr) << "the test object did not load (see the suite's set-up)";
    object_->reset();
  }

  TestObject& bpf() { return *object_; }
  void run(std::uint32_t spec_index, const Regs& regs) {
    std::uint32_t retval = 1;
    ASSERT_EQ(bpf().run(spec_index, regs, &retval), 0);
    ASSERT_EQ(retval, 0u);
  }
  dwcp_event one_event() {
    auto events = bpf().drain();
    EXPECT_EQ(events.size(), 1u);
    return events.empty() ? dwcp_event{} : events.front();
  }

  static constexpr int ENOTSUPP_ = 524;  // the kernel's own "not supported" (not in userspace errno.h)
  static TestObject* object_;
};
TestObject* UprobeHandler::object_ = nullptr;

TEST_F(UprobeHandler, EntryOnlyEventCarriesRegistersAtTheirWidthsAndAdds) {
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_SEND_CHUNK, kProbe, DWCP_PHASE_ENTRY_ONLY,
                                    {int_field(DWCP_SLOT_ID, reg_loc(UT_REG1)),
                                     int_field(DWCP_SLOT_BYTES, reg_loc(UT_REG2, {}, 4)),
                                     int_field(DWCP_SLOT_COUNT, reg_loc(UT_REG7), -1),
                                     int_field(DWCP_SLOT_ENTRY_AUX, reg_loc(UT_REG8, {}, 1))}));
  run(kEntry, Regs{}.reg(UT_REG1, 7).reg(UT_REG2, 0x100000005ull).reg(UT_REG7, 65536).reg(UT_REG8, 0x1ff).g(kG1));
  const dwcp_event ev = one_event();
  EXPECT_EQ(ev.kind, DWCP_EV_SEND_CHUNK);
  EXPECT_EQ(ev.probe_id, kProbe);
  EXPECT_EQ(ev.tgid, static_cast<std::uint32_t>(getpid()));
  EXPECT_EQ(ev.goroutine, kG1);
  EXPECT_EQ(ev.flags, 0u);
  EXPECT_EQ(ev.val[DWCP_SLOT_ID], 7);
  EXPECT_EQ(ev.val[DWCP_SLOT_BYTES], 5);  // 4 bytes of 0x1_0000_0005
  EXPECT_EQ(ev.val[DWCP_SLOT_COUNT], 65535);
  EXPECT_EQ(ev.val[DWCP_SLOT_ENTRY_AUX], 0xff);
  EXPECT_EQ(bpf().spec_hits(kEntry), 1u);
  for (std::uint32_t reason = 0; reason < DWCP_DROP_COUNT; ++reason)
    EXPECT_EQ(bpf().drops(kProbe, static_cast<dwcp_drop_reason>(reason)), 0u) << reason;
}

TEST_F(UprobeHandler, FieldsAreReadAtOffsetsThroughPointersAndStackWords) {
  Inner inner{1, 123456789};
  Outer outer{2, 0xab, 0xbeef, 0xdeadbeef, &inner};
  // A Go frame: arguments that did not fit registers sit above SP.
  std::uint64_t frame[4] = {0, 77, reinterpret_cast<std::uint64_t>(&outer), 0};
  bpf().set_spec(
      kEntry, probe_spec(DWCP_EV_ENCODE, kProbe, DWCP_PHASE_ENTRY_ONLY,
                         {int_field(DWCP_SLOT_ID, reg_loc(UT_REG0, {offsetof(Outer, inner), offsetof(Inner, length)})),
                          int_field(DWCP_SLOT_BYTES, reg_loc(UT_REG0, {offsetof(Outer, u16)}, 2)),
                          int_field(DWCP_SLOT_COUNT, stack_loc(8)),
                          int_field(DWCP_SLOT_ENTRY_AUX, stack_loc(16, {offsetof(Outer, u32)}, 4))}));
  run(kEntry, Regs{}.reg(UT_REG0, &outer).sp(frame).g(kG1));
  const dwcp_event ev = one_event();
  EXPECT_EQ(ev.flags, 0u);
  EXPECT_EQ(ev.val[DWCP_SLOT_ID], 123456789);
  EXPECT_EQ(ev.val[DWCP_SLOT_BYTES], 0xbeef);
  EXPECT_EQ(ev.val[DWCP_SLOT_COUNT], 77);
  EXPECT_EQ(ev.val[DWCP_SLOT_ENTRY_AUX], 0xdeadbeef);

  // One byte at the end of the chain.
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_ENCODE, kProbe, DWCP_PHASE_ENTRY_ONLY,
                                    {int_field(DWCP_SLOT_ID, reg_loc(UT_REG3, {offsetof(Outer, flag)}, 1))}));
  run(kEntry, Regs{}.reg(UT_REG3, &outer).g(kG1));
  EXPECT_EQ(one_event().val[DWCP_SLOT_ID], 0xab);
}

TEST_F(UprobeHandler, NilPointerChainsReadAsZeroWithoutFailure) {
  Outer no_inner{2, 0, 0, 5, nullptr};
  const char name[] = "vm-1";
  bpf().set_spec(
      kEntry,
      probe_spec(DWCP_EV_MIGRATE_MEMORY, kProbe, DWCP_PHASE_ENTRY_ONLY,
                 {int_field(DWCP_SLOT_ID, reg_loc(UT_REG0, {offsetof(Outer, u32)}, 4)),
                  int_field(DWCP_SLOT_BYTES, reg_loc(UT_REG1, {offsetof(Outer, inner), offsetof(Inner, length)})),
                  nonnil_field(DWCP_SLOT_COUNT, reg_loc(UT_REG2)),
                  string_field(DWCP_STR_NAME, reg_loc(UT_REG3, {0}), reg_loc(UT_REG4))}));
  // RAX nil at the first hop, RBX's struct nil at the second; RCX an error word that is nil;
  // the string's data pointer is reached through a nil pointer (an empty string).
  run(kEntry, Regs{}.reg(UT_REG1, &no_inner).reg(UT_REG4, sizeof name - 1).g(kG1));
  dwcp_event ev = one_event();
  EXPECT_EQ(ev.flags, 0u) << "nil is a value, not a failed read";
  EXPECT_EQ(ev.val[DWCP_SLOT_ID], 0);
  EXPECT_EQ(ev.val[DWCP_SLOT_BYTES], 0);
  EXPECT_EQ(ev.val[DWCP_SLOT_COUNT], 0);
  EXPECT_STREQ(ev.str[DWCP_STR_NAME], "");
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 0u);

  // The same spec with every pointer set.
  const char* data = name;
  run(kEntry, Regs{}
                  .reg(UT_REG0, &no_inner)
                  .reg(UT_REG2, 0xc0000ff000ull)
                  .reg(UT_REG3, &data)
                  .reg(UT_REG4, sizeof name - 1)
                  .g(kG1));
  ev = one_event();
  EXPECT_EQ(ev.flags, 0u);
  EXPECT_EQ(ev.val[DWCP_SLOT_ID], 5);
  EXPECT_EQ(ev.val[DWCP_SLOT_COUNT], 1);
  EXPECT_STREQ(ev.str[DWCP_STR_NAME], "vm-1");
}

TEST_F(UprobeHandler, UnreadablePointerFlagsTheEventAndCountsOneReadFailure) {
  std::uint64_t frame[2] = {0, 9};
  bpf().set_spec(
      kEntry, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_ENTRY_ONLY,
                         {int_field(DWCP_SLOT_ID, reg_loc(UT_REG0, {8})), int_field(DWCP_SLOT_BYTES, stack_loc(8))}));
  run(kEntry, Regs{}.reg(UT_REG0, kBadPointer).sp(frame).g(kG1));
  const dwcp_event ev = one_event();
  EXPECT_EQ(ev.flags, static_cast<std::uint32_t>(DWCP_EVF_READ_FAILED));
  EXPECT_EQ(ev.val[DWCP_SLOT_ID], 0);
  EXPECT_EQ(ev.val[DWCP_SLOT_BYTES], 9) << "the other fields are still read";
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 1u);

  // An unreadable stack (SP itself bad): a failure of its own, counted once more.
  run(kEntry, Regs{}.reg(UT_REG0, kBadPointer).sp(reinterpret_cast<void*>(kBadPointer)).g(kG1));
  EXPECT_EQ(one_event().flags, static_cast<std::uint32_t>(DWCP_EVF_READ_FAILED));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 2u) << "one count per event, not per field";
}

TEST_F(UprobeHandler, EntriesPairWithTheirExitsByGoroutine) {
  bpf().set_spec(kEntry,
                 probe_spec(DWCP_EV_ENCODE, kProbe, DWCP_PHASE_ENTRY, {int_field(DWCP_SLOT_BYTES, reg_loc(UT_REG1))}));
  bpf().set_spec(kExit, probe_spec(DWCP_EV_ENCODE, kProbe, DWCP_PHASE_EXIT,
                                   {int_field(DWCP_SLOT_RESULT_BYTES, reg_loc(UT_REG0)),
                                    nonnil_field(DWCP_SLOT_ERR, reg_loc(UT_REG2))}));
  run(kEntry, Regs{}.reg(UT_REG1, 1000).g(kG1));
  run(kEntry, Regs{}.reg(UT_REG1, 2000).g(kG2));
  EXPECT_TRUE(bpf().drain().empty()) << "a paired entry emits nothing";
  EXPECT_EQ(bpf().inflight_entries(), 2u);
  run(kExit, Regs{}.reg(UT_REG0, 200).reg(UT_REG2, 0xc000abc000ull).g(kG2));
  run(kExit, Regs{}.reg(UT_REG0, 100).g(kG1));
  const auto events = bpf().drain();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].goroutine, kG2);
  EXPECT_EQ(events[0].val[DWCP_SLOT_BYTES], 2000);
  EXPECT_EQ(events[0].val[DWCP_SLOT_RESULT_BYTES], 200);
  EXPECT_EQ(events[0].val[DWCP_SLOT_ERR], 1);
  EXPECT_EQ(events[1].goroutine, kG1);
  EXPECT_EQ(events[1].val[DWCP_SLOT_BYTES], 1000);
  EXPECT_EQ(events[1].val[DWCP_SLOT_RESULT_BYTES], 100);
  EXPECT_EQ(events[1].val[DWCP_SLOT_ERR], 0);
  for (const auto& ev : events) {
    EXPECT_EQ(ev.kind, DWCP_EV_ENCODE);
    EXPECT_EQ(ev.flags, static_cast<std::uint32_t>(DWCP_EVF_PAIRED));
    EXPECT_GT(ev.duration_ns, 0u);
    EXPECT_LT(ev.duration_ns, ev.ts_ns);
  }
  EXPECT_EQ(bpf().inflight_entries(), 0u) << "a paired exit consumes its entry";
  EXPECT_EQ(bpf().spec_hits(kEntry), 2u);
  EXPECT_EQ(bpf().spec_hits(kExit), 2u);
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_UNMATCHED_EXIT), 0u);
}

TEST_F(UprobeHandler, ExitWithoutEntryIsCountedAsUnmatched) {
  constexpr std::uint16_t kOther = 6;
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_ENTRY));
  bpf().set_spec(kExit, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_EXIT));
  bpf().set_spec(2 * kOther + 1, probe_spec(DWCP_EV_RECEIVE, kOther, DWCP_PHASE_EXIT));
  run(kExit, Regs{}.g(kG1));
  // Another goroutine's entry, and another probe's exit on this goroutine, do not pair.
  run(kEntry, Regs{}.g(kG2));
  run(2 * kOther + 1, Regs{}.g(kG2));
  EXPECT_TRUE(bpf().drain().empty());
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_UNMATCHED_EXIT), 1u);
  EXPECT_EQ(bpf().drops(kOther, DWCP_DROP_UNMATCHED_EXIT), 1u);
  run(kExit, Regs{}.g(kG2));
  EXPECT_EQ(one_event().flags, static_cast<std::uint32_t>(DWCP_EVF_PAIRED));
  run(kExit, Regs{}.g(kG2));  // a second RET of the same call: its entry is gone
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_UNMATCHED_EXIT), 2u);
}

// Uprobe programs run preemptibly: each instance running on a CPU takes the next of its scratch
// slots (bpf/maps.bpf.h SCRATCH_SLOTS, 4). A hit that finds them all taken is lost, and counted
// as its own reason on its own probe (not as the socket programs' map_full).
TEST_F(UprobeHandler, AHitWithEveryScratchSlotTakenIsCountedAsScratchFull) {
  constexpr std::uint32_t kScratchSlots = 4;
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_SEND_CHUNK, kProbe, DWCP_PHASE_ENTRY_ONLY,
                                    {int_field(DWCP_SLOT_ID, reg_loc(UT_REG1))}));
  std::uint32_t retval = 1;
  // The last free slot: the hit is handled, and gives its slot back.
  bpf().set_nesting(kScratchSlots - 1);
  ASSERT_EQ(bpf().run_nested(kEntry, Regs{}.reg(UT_REG1, 7).g(kG1), &retval), 0);
  EXPECT_EQ(one_event().val[DWCP_SLOT_ID], 7);
  for (std::uint32_t depth : bpf().nesting()) EXPECT_EQ(depth, kScratchSlots - 1);
  // None free: lost, counted.
  bpf().set_nesting(kScratchSlots);
  ASSERT_EQ(bpf().run_nested(kEntry, Regs{}.reg(UT_REG1, 8).g(kG1), &retval), 0);
  EXPECT_TRUE(bpf().drain().empty());
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_SCRATCH_FULL), 1u);
  EXPECT_EQ(bpf().drops(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL), 0u);
  EXPECT_EQ(bpf().spec_hits(kEntry), 1u);  // the lost hit ran no further
  for (std::uint32_t depth : bpf().nesting()) EXPECT_EQ(depth, kScratchSlots);
  // Not nested: the first slot.
  bpf().set_nesting(0);
  ASSERT_EQ(bpf().run_nested(kEntry, Regs{}.reg(UT_REG1, 9).g(kG1), &retval), 0);
  EXPECT_EQ(one_event().val[DWCP_SLOT_ID], 9);
  for (std::uint32_t reason = 0; reason < DWCP_DROP_COUNT; ++reason) {
    if (reason != DWCP_DROP_SCRATCH_FULL) {
      EXPECT_EQ(bpf().drops(kProbe, static_cast<dwcp_drop_reason>(reason)), 0u) << reason;
    }
  }
}

TEST_F(UprobeHandler, ReadFailureAtEntryIsCountedOnceAcrossThePair) {
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_DECODE, kProbe, DWCP_PHASE_ENTRY,
                                    {int_field(DWCP_SLOT_BYTES, reg_loc(UT_REG0, {0}))}));
  bpf().set_spec(kExit, probe_spec(DWCP_EV_DECODE, kProbe, DWCP_PHASE_EXIT,
                                   {int_field(DWCP_SLOT_RESULT_BYTES, reg_loc(UT_REG0, {0}))}));
  std::int64_t result = 4096;
  run(kEntry, Regs{}.reg(UT_REG0, kBadPointer).g(kG1));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 1u);
  run(kExit, Regs{}.reg(UT_REG0, &result).g(kG1));
  dwcp_event ev = one_event();
  EXPECT_EQ(ev.flags, static_cast<std::uint32_t>(DWCP_EVF_PAIRED | DWCP_EVF_READ_FAILED))
      << "the event still says a field is missing";
  EXPECT_EQ(ev.val[DWCP_SLOT_RESULT_BYTES], 4096);
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 1u) << "the entry's failure was counted again at the exit";

  // A failure at the exit is the exit's own: one more.
  run(kEntry, Regs{}.reg(UT_REG0, &result).g(kG1));
  run(kExit, Regs{}.reg(UT_REG0, kBadPointer).g(kG1));
  ev = one_event();
  EXPECT_EQ(ev.flags, static_cast<std::uint32_t>(DWCP_EVF_PAIRED | DWCP_EVF_READ_FAILED));
  EXPECT_EQ(ev.val[DWCP_SLOT_BYTES], 4096);
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 2u);
}

TEST_F(UprobeHandler, LongStringsAreTruncatedAndFlagged) {
  const std::string fits(DWCP_STR_LEN - 1, 'a');
  const std::string longer = "cluster-" + std::string(100, 'b');
  const char* fits_data = fits.data();
  const char* longer_data = longer.data();
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_FED_SYNC, kProbe, DWCP_PHASE_ENTRY_ONLY,
                                    {string_field(DWCP_STR_NAME, reg_loc(UT_REG0), reg_loc(UT_REG1)),
                                     string_field(DWCP_STR_PEER, reg_loc(UT_REG2, {0}), reg_loc(UT_REG3))}));
  run(kEntry, Regs{}
                  .reg(UT_REG0, fits_data)
                  .reg(UT_REG1, fits.size())
                  .reg(UT_REG2, &fits_data)
                  .reg(UT_REG3, fits.size())
                  .g(kG1));
  dwcp_event ev = one_event();
  EXPECT_EQ(ev.flags, 0u) << DWCP_STR_LEN - 1 << " bytes fit";
  EXPECT_EQ(std::string(ev.str[DWCP_STR_NAME]), fits);
  EXPECT_EQ(std::string(ev.str[DWCP_STR_PEER]), fits);

  run(kEntry, Regs{}
                  .reg(UT_REG0, fits_data)
                  .reg(UT_REG1, fits.size())
                  .reg(UT_REG2, &longer_data)
                  .reg(UT_REG3, longer.size())
                  .g(kG1));
  ev = one_event();
  EXPECT_EQ(ev.flags, static_cast<std::uint32_t>(DWCP_EVF_STR_TRUNC));
  EXPECT_EQ(std::string(ev.str[DWCP_STR_PEER]), longer.substr(0, DWCP_STR_LEN - 1));
  EXPECT_EQ(ev.str[DWCP_STR_PEER][DWCP_STR_LEN - 1], '\0');
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 0u) << "truncation is not a loss";
}

TEST_F(UprobeHandler, FullRingBufferCountsEachLostEvent) {
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_SEND_CHUNK, kProbe, DWCP_PHASE_ENTRY_ONLY,
                                    {int_field(DWCP_SLOT_ID, reg_loc(UT_REG0))}));
  // More events than the buffer holds, none consumed.
  constexpr int kRuns = 2 * kRingBytes / sizeof(dwcp_event);
  for (int i = 0; i < kRuns; ++i) run(kEntry, Regs{}.reg(UT_REG0, i).g(kG1));
  const auto events = bpf().drain();
  ASSERT_GT(events.size(), 0u);
  ASSERT_LT(events.size(), static_cast<std::size_t>(kRuns));
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].val[DWCP_SLOT_ID], static_cast<std::int64_t>(i));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_RINGBUF_FULL), kRuns - events.size());

  // A paired exit that finds the buffer full drops its entry too (the next RET is unmatched).
  bpf().set_spec(kEntry, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_ENTRY));
  bpf().set_spec(kExit, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_EXIT));
  bpf().set_spec(2 * 7, probe_spec(DWCP_EV_SEND_CHUNK, 7, DWCP_PHASE_ENTRY_ONLY));
  for (std::size_t i = 0; i < events.size(); ++i) run(2 * 7, Regs{}.g(kG1));  // refill with another probe's events
  EXPECT_EQ(bpf().drops(7, DWCP_DROP_RINGBUF_FULL), 0u);
  run(kEntry, Regs{}.g(kG2));
  run(kExit, Regs{}.g(kG2));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_RINGBUF_FULL), kRuns - events.size() + 1);
  EXPECT_EQ(bpf().inflight_entries(), 0u);
  run(kExit, Regs{}.g(kG2));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_UNMATCHED_EXIT), 1u);
}

// DWCP's AMST session as Close sees it: the session's stream table (a Go slice of *StreamConn),
// with the layout the agent writes for it and Close's entry and RET specs.
struct StreamConn {
  std::uint64_t pad;
  std::int64_t stream_id;
  std::uint64_t sent;
  std::uint64_t recv;
};
struct Session {
  std::uint64_t pad[3];
  StreamConn** streams;  // a Go slice: data, len, cap
  std::uint64_t len, cap;
};

void prepare_close(TestObject& bpf) {
  dwcp_stream_layout layout{};
  layout.enabled = 1;
  layout.max_streams = DWCP_MAX_SESSION_STREAMS;
  layout.streams_off = offsetof(Session, streams);
  layout.stream_id_off = offsetof(StreamConn, stream_id);
  layout.sent_off = offsetof(StreamConn, sent);
  layout.recv_off = offsetof(StreamConn, recv);
  bpf.set_stream_layout(layout);
  bpf.set_spec(kEntry, probe_spec(DWCP_EV_SESSION_CLOSE, kProbe, DWCP_PHASE_ENTRY,
                                  {int_field(DWCP_SLOT_SESSION, reg_loc(UT_REG0))}));
  bpf.set_spec(kExit, probe_spec(DWCP_EV_SESSION_CLOSE, kProbe, DWCP_PHASE_EXIT,
                                 {nonnil_field(DWCP_SLOT_ERR, reg_loc(UT_REG0))}));
}

// The AMST session's stream table, saved at Close's entry and read at its RET: one STREAM_FINAL
// per stream, then the session_close event. Between the two, as DWCP's Close does, the session's
// slice is emptied (m.streams = nil) and a chunk still in flight is counted.
TEST_F(UprobeHandler, SessionCloseEmitsEachStreamsFinalCounters) {
  StreamConn s0{0, 10, 900, 10}, s2{0, 12, 3000, 30};
  StreamConn* table[3] = {&s0, nullptr, &s2};
  Session session{{}, table, 3, 3};
  prepare_close(bpf());
  run(kEntry, Regs{}.reg(UT_REG0, &session).g(kG1));
  s0.sent = 1000;
  session.streams = nullptr;
  session.len = session.cap = 0;
  run(kExit, Regs{}.g(kG1));
  const auto events = bpf().drain();
  ASSERT_EQ(events.size(), 4u);
  const auto session_ptr = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(&session));
  for (int i = 0; i < 3; ++i) {
    const dwcp_event& ev = events[i];
    EXPECT_EQ(ev.kind, DWCP_EV_STREAM_FINAL) << i;
    EXPECT_EQ(ev.goroutine, kG1);
    EXPECT_EQ(ev.val[DWCP_SLOT_SESSION], session_ptr);
    EXPECT_EQ(ev.val[DWCP_SLOT_FINAL_INDEX], i);
    EXPECT_EQ(ev.val[DWCP_SLOT_FINAL_TABLE_LEN], 3);
    EXPECT_EQ(ev.val[DWCP_SLOT_FINAL_TABLE_PTR], static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(table)));
    EXPECT_EQ(ev.val[DWCP_SLOT_FINAL_STREAM_PTR],
              static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(table[i])));
  }
  EXPECT_EQ(events[0].flags, 0u);
  EXPECT_EQ(events[0].val[DWCP_SLOT_FINAL_STREAM_ID], 10);
  EXPECT_EQ(events[0].val[DWCP_SLOT_FINAL_SENT], 1000);
  EXPECT_EQ(events[0].val[DWCP_SLOT_FINAL_RECV], 10);
  EXPECT_EQ(events[1].flags, static_cast<std::uint32_t>(DWCP_EVF_READ_FAILED)) << "a nil stream in the table";
  EXPECT_EQ(events[2].flags, 0u);
  EXPECT_EQ(events[2].val[DWCP_SLOT_FINAL_STREAM_ID], 12);
  EXPECT_EQ(events[2].val[DWCP_SLOT_FINAL_SENT], 3000);
  EXPECT_EQ(events[2].val[DWCP_SLOT_FINAL_RECV], 30);
  EXPECT_EQ(events[3].kind, DWCP_EV_SESSION_CLOSE);
  EXPECT_EQ(events[3].flags, static_cast<std::uint32_t>(DWCP_EVF_PAIRED));
  EXPECT_EQ(events[3].val[DWCP_SLOT_SESSION], session_ptr);
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_READ_FAILED), 1u);
}

// A Close whose stream table finds the ring buffer full: each stream's final figures and the
// Close event itself are counted lost, one by one (a table cut short at the first full reservation
// left the rest of it uncounted: "made 10, counted 5, lost 2").
TEST_F(UprobeHandler, SessionCloseOnAFullRingBufferCountsEveryEventLost) {
  StreamConn s0{0, 10, 900, 10}, s1{0, 11, 2000, 20}, s2{0, 12, 3000, 30};
  StreamConn* table[3] = {&s0, &s1, &s2};
  Session session{{}, table, 3, 3};
  prepare_close(bpf());
  bpf().set_spec(2 * 7, probe_spec(DWCP_EV_SEND_CHUNK, 7, DWCP_PHASE_ENTRY_ONLY));
  while (bpf().drops(7, DWCP_DROP_RINGBUF_FULL) == 0) run(2 * 7, Regs{}.g(kG2));  // another probe fills it
  run(kEntry, Regs{}.reg(UT_REG0, &session).g(kG1));
  run(kExit, Regs{}.g(kG1));
  EXPECT_EQ(bpf().drops(kProbe, DWCP_DROP_RINGBUF_FULL), 4u) << "3 streams and the Close";
  for (const dwcp_event& ev : bpf().drain()) EXPECT_EQ(ev.probe_id, 7u);
}

// The in-flight map is LRU and does not fill; a plain hash of one entry shows that a failed
// update is counted as map_full (and its exit then as unmatched).
TEST_F(UprobeHandler, FailedInflightUpdateIsCountedAsMapFull) {
  std::string error;
  TestObject small(
      kRingBytes,
      [](uprobe_test* skel) {
        bpf_map__set_type(skel->maps.inflight, BPF_MAP_TYPE_HASH);
        bpf_map__set_max_entries(skel->maps.inflight, 1);
      },
      &error);
  ASSERT_TRUE(small) << error;
  small.set_spec(kEntry, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_ENTRY));
  small.set_spec(kExit, probe_spec(DWCP_EV_SEND, kProbe, DWCP_PHASE_EXIT));
  std::uint32_t retval = 1;
  ASSERT_EQ(small.run(kEntry, Regs{}.g(kG1), &retval), 0);
  ASSERT_EQ(small.run(kEntry, Regs{}.g(kG2), &retval), 0);
  EXPECT_EQ(small.drops(kProbe, DWCP_DROP_MAP_FULL), 1u);
  ASSERT_EQ(small.run(kExit, Regs{}.g(kG2), &retval), 0);
  ASSERT_EQ(small.run(kExit, Regs{}.g(kG1), &retval), 0);
  const auto events = small.drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].goroutine, kG1);
  EXPECT_EQ(small.drops(kProbe, DWCP_DROP_UNMATCHED_EXIT), 1u);
}

}  // namespace
}  // namespace dwcp::bpf_unit
