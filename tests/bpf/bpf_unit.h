// The BPF unit tier's driver: loads the test object (uprobe_test.bpf.c), writes probe specs into
// its maps as the agent does, runs the observer's uprobe handler through BPF_PROG_TEST_RUN with
// synthetic registers, and reads back the ring buffer and the counters.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "dwcp_observer/events.h"
#include "uprobe_test.h"

struct uprobe_test;
struct ring_buffer;

namespace dwcp::bpf_unit {

// A uprobe hit's registers: Go's integer argument registers, SP and the goroutine (R14, arm64 R28).
struct Regs {
  std::uint64_t args[UT_ARGS] = {};
  Regs& reg(ut_reg r, std::uint64_t v) {
    args[r] = v;
    return *this;
  }
  Regs& reg(ut_reg r, const void* p) { return reg(r, reinterpret_cast<std::uint64_t>(p)); }
  Regs& sp(const void* p) {
    args[UT_ARG_SP] = reinterpret_cast<std::uint64_t>(p);
    return *this;
  }
  Regs& g(std::uint64_t goroutine) {
    args[UT_ARG_G] = goroutine;
    return *this;
  }
};

// Locations and fields as the profile compiles them (events.h).
dwcp_loc reg_loc(ut_reg reg, std::initializer_list<std::int32_t> deref = {}, std::uint8_t width = 8);
dwcp_loc stack_loc(std::int32_t offset, std::initializer_list<std::int32_t> deref = {}, std::uint8_t width = 8);
dwcp_field int_field(dwcp_slot slot, dwcp_loc loc, std::int32_t add = 0);
dwcp_field nonnil_field(dwcp_slot slot, dwcp_loc loc);
dwcp_field string_field(std::uint8_t string_slot, dwcp_loc data, dwcp_loc len);
dwcp_probe_spec probe_spec(dwcp_event_kind kind, std::uint16_t probe_id, dwcp_phase phase,
                           std::initializer_list<dwcp_field> fields = {});

// How to change the object before it is loaded (e.g. a map's type or size).
using Configure = void (*)(uprobe_test*);

// One loaded test object. Not copyable: owns the skeleton and the ring buffer reader.
class TestObject {
 public:
  // Opens and loads; on failure *error says why and the object is empty.
  TestObject(std::uint32_t ringbuf_bytes, Configure configure, std::string* error);
  ~TestObject();
  TestObject(const TestObject&) = delete;
  TestObject& operator=(const TestObject&) = delete;
  explicit operator bool() const { return skel_ != nullptr; }

  // One BPF_PROG_TEST_RUN of the handler; returns the syscall's result (0, or -errno) and puts
  // the program's return value in *retval.
  int run(std::uint32_t spec_index, const Regs& regs, std::uint32_t* retval, std::uint32_t slot = 0);
  // The same through the nesting count, as the uprobe programs run it (handle_nested).
  int run_nested(std::uint32_t spec_index, const Regs& regs, std::uint32_t* retval);
  // Every CPU's nesting count: uprobe instances running (preempted) there.
  void set_nesting(std::uint32_t depth);
  std::vector<std::uint32_t> nesting() const;
  void set_spec(std::uint32_t index, const dwcp_probe_spec& spec);
  void set_stream_layout(const dwcp_stream_layout& layout);
  // Every event in the ring buffer, oldest first.
  std::vector<dwcp_event> drain();
  std::uint64_t drops(std::uint32_t probe_id, dwcp_drop_reason reason) const;
  std::uint64_t spec_hits(std::uint32_t index) const;
  std::size_t inflight_entries() const;
  // Back to a freshly loaded state: specs, layout, counters, in-flight entries, ring buffer.
  void reset();

 private:
  std::uint64_t percpu_sum(int map_fd, std::uint32_t key) const;
  void percpu_zero(int map_fd, std::uint32_t key);

  uprobe_test* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<dwcp_event> received_;
  int ncpus_ = 1;
};

}  // namespace dwcp::bpf_unit
