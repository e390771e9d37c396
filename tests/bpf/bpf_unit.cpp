#include "bpf_unit.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "uprobe_test.skel.h"

namespace dwcp::bpf_unit {
namespace {

dwcp_loc loc_of(dwcp_loc_base base, std::initializer_list<std::int32_t> deref, std::uint8_t width) {
  dwcp_loc loc{};
  loc.base = base;
  loc.width = width;
  for (std::int32_t d : deref) loc.deref[loc.nderef++] = d;
  return loc;
}

}  // namespace

dwcp_loc reg_loc(ut_reg reg, std::initializer_list<std::int32_t> deref, std::uint8_t width) {
  dwcp_loc loc = loc_of(DWCP_LOC_REG, deref, width);
  loc.reg = static_cast<std::uint8_t>(reg);
  return loc;
}

dwcp_loc stack_loc(std::int32_t offset, std::initializer_list<std::int32_t> deref, std::uint8_t width) {
  dwcp_loc loc = loc_of(DWCP_LOC_STACK, deref, width);
  loc.stack_off = offset;
  return loc;
}

dwcp_field int_field(dwcp_slot slot, dwcp_loc loc, std::int32_t add) {
  dwcp_field f{};
  f.type = DWCP_FIELD_INT;
  f.slot = static_cast<std::uint8_t>(slot);
  f.add = add;
  f.loc = loc;
  return f;
}

dwcp_field nonnil_field(dwcp_slot slot, dwcp_loc loc) {
  dwcp_field f = int_field(slot, loc);
  f.type = DWCP_FIELD_NONNIL;
  return f;
}

dwcp_field string_field(std::uint8_t string_slot, dwcp_loc data, dwcp_loc len) {
  dwcp_field f{};
  f.type = DWCP_FIELD_STRING;
  f.slot = string_slot;
  f.loc = data;
  f.len_loc = len;
  return f;
}

dwcp_probe_spec probe_spec(dwcp_event_kind kind, std::uint16_t probe_id, dwcp_phase phase,
                           std::initializer_list<dwcp_field> fields) {
  dwcp_probe_spec spec{};
  spec.kind = static_cast<std::uint16_t>(kind);
  spec.probe_id = probe_id;
  spec.phase = static_cast<std::uint8_t>(phase);
  for (const dwcp_field& f : fields) spec.fields[spec.nfields++] = f;
  return spec;
}

TestObject::TestObject(std::uint32_t ringbuf_bytes, Configure configure, std::string* error) {
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) ncpus_ = 1;
  uprobe_test* skel = uprobe_test::open();
  if (skel == nullptr) {
    *error = std::string("cannot open the test object: ") + std::strerror(errno);
    return;
  }
  bpf_map__set_max_entries(skel->maps.events, ringbuf_bytes);
  if (configure != nullptr) configure(skel);
  if (int err = uprobe_test::load(skel); err != 0) {
    *error = std::string("cannot load the test object: ") + std::strerror(-err);
    uprobe_test::destroy(skel);
    return;
  }
  ring_ = ring_buffer__new(
      bpf_map__fd(skel->maps.events),
      [](void* ctx, void* data, std::size_t size) {
        dwcp_event event{};
        std::memcpy(&event, data, std::min(size, sizeof(event)));
        static_cast<TestObject*>(ctx)->received_.push_back(event);
        return 0;
      },
      this, nullptr);
  if (ring_ == nullptr) {
    *error = std::string("cannot read the ring buffer: ") + std::strerror(errno);
    uprobe_test::destroy(skel);
    return;
  }
  skel_ = skel;
}

TestObject::~TestObject() {
  if (ring_ != nullptr) ring_buffer__free(ring_);
  if (skel_ != nullptr) uprobe_test::destroy(skel_);
}

int TestObject::run(std::uint32_t spec_index, const Regs& regs, std::uint32_t* retval, std::uint32_t slot) {
  Regs ctx = regs;
  ctx.args[UT_ARG_SPEC] = (static_cast<std::uint64_t>(slot) << 32) | spec_index;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx.args, .ctx_size_in = sizeof(ctx.args));
  const int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.run_uprobe), &opts);
  *retval = opts.retval;
  return err < 0 ? -errno : err;
}

int TestObject::run_nested(std::uint32_t spec_index, const Regs& regs, std::uint32_t* retval) {
  Regs ctx = regs;
  ctx.args[UT_ARG_SPEC] = spec_index;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx.args, .ctx_size_in = sizeof(ctx.args));
  const int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.run_uprobe_nested), &opts);
  *retval = opts.retval;
  return err < 0 ? -errno : err;
}

void TestObject::set_nesting(std::uint32_t depth) {
  // Per-CPU array values are read and written 8 bytes per CPU.
  std::vector<std::uint64_t> per_cpu(ncpus_, depth);
  const std::uint32_t zero = 0;
  bpf_map_update_elem(bpf_map__fd(skel_->maps.nesting), &zero, per_cpu.data(), BPF_ANY);
}

std::vector<std::uint32_t> TestObject::nesting() const {
  std::vector<std::uint64_t> per_cpu(ncpus_);
  const std::uint32_t zero = 0;
  bpf_map_lookup_elem(bpf_map__fd(skel_->maps.nesting), &zero, per_cpu.data());
  return std::vector<std::uint32_t>(per_cpu.begin(), per_cpu.end());
}

void TestObject::set_spec(std::uint32_t index, const dwcp_probe_spec& spec) {
  bpf_map__update_elem(skel_->maps.probe_specs, &index, sizeof(index), &spec, sizeof(spec), BPF_ANY);
}

void TestObject::set_stream_layout(const dwcp_stream_layout& layout) {
  const std::uint32_t zero = 0;
  bpf_map__update_elem(skel_->maps.stream_layout, &zero, sizeof(zero), &layout, sizeof(layout), BPF_ANY);
}

std::vector<dwcp_event> TestObject::drain() {
  received_.clear();
  ring_buffer__consume(ring_);
  return std::move(received_);
}

std::uint64_t TestObject::percpu_sum(int map_fd, std::uint32_t key) const {
  std::vector<std::uint64_t> per_cpu(ncpus_);
  if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data()) != 0) return ~0ull;
  std::uint64_t sum = 0;
  for (std::uint64_t v : per_cpu) sum += v;
  return sum;
}

void TestObject::percpu_zero(int map_fd, std::uint32_t key) {
  std::vector<std::uint64_t> per_cpu(ncpus_);
  bpf_map_update_elem(map_fd, &key, per_cpu.data(), BPF_ANY);
}

std::uint64_t TestObject::drops(std::uint32_t probe_id, dwcp_drop_reason reason) const {
  return percpu_sum(bpf_map__fd(skel_->maps.drops), probe_id * DWCP_DROP_COUNT + reason);
}

std::uint64_t TestObject::spec_hits(std::uint32_t index) const {
  return percpu_sum(bpf_map__fd(skel_->maps.spec_hits), index);
}

std::size_t TestObject::inflight_entries() const {
  std::size_t n = 0;
  dwcp_inflight_key key{}, next{};
  const int fd = bpf_map__fd(skel_->maps.inflight);
  for (const void* cursor = nullptr; bpf_map_get_next_key(fd, cursor, &next) == 0; cursor = &key) {
    key = next;
    ++n;
  }
  return n;
}

void TestObject::reset() {
  const dwcp_probe_spec none{};
  for (std::uint32_t i = 0; i < DWCP_MAX_SPECS; ++i) {
    set_spec(i, none);
    percpu_zero(bpf_map__fd(skel_->maps.spec_hits), i);
  }
  for (std::uint32_t i = 0; i < DWCP_MAX_PROBES * DWCP_DROP_COUNT; ++i) percpu_zero(bpf_map__fd(skel_->maps.drops), i);
  set_stream_layout(dwcp_stream_layout{});
  set_nesting(0);
  const int fd = bpf_map__fd(skel_->maps.inflight);
  dwcp_inflight_key key{};
  while (bpf_map_get_next_key(fd, nullptr, &key) == 0) bpf_map_delete_elem(fd, &key);
  drain();
}

}  // namespace dwcp::bpf_unit
