// SPDX-License-Identifier: GPL-2.0
//
// dwcp-observer's kernel side: one generic uprobe program whose behaviour per attach point comes
// from a spec table (BPF cookie -> struct dwcp_probe_spec), and BTF-typed tracepoints that count a
// target's TCP bytes, retransmits and resets in per-CPU maps read at scrape time.
// The contract with userspace is include/dwcp_observer/events.h; nothing is defined twice.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "dwcp_observer/events.h"

char LICENSE[] SEC("license") = "GPL";

#define IPPROTO_TCP_ 6
#define AF_INET_ 2
#define AF_INET6_ 10
#define MSG_PEEK_ 2
#define EAGAIN_ 11
#define TCP_ESTABLISHED_ 1
#define TCP_SYN_SENT_ 2
#define TCP_SYN_RECV_ 3
#define TCP_CLOSE_ 7
#define TCP_LISTEN_ 10

// Set by the agent before load. Wake the consumer only once this much is queued: it drains on a
// short timer anyway, and a wake-up per event would cost a context switch per probe hit.
const volatile __u64 wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // resized by the agent (--ringbuf-size)
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DWCP_MAX_SPECS);
	__type(key, __u32);
	__type(value, struct dwcp_probe_spec);
} probe_specs SEC(".maps");

// Entry values waiting for their exit. LRU, so that calls that never return (a goroutine that
// panicked, a process that died) cannot fill it for good; an evicted entry surfaces as an
// unmatched exit and is counted.
struct inflight_value {
	__u64 ts_ns;
	__u32 flags;
	__u32 _pad;
	__s64 val[DWCP_MAX_FIELDS];
	char str[DWCP_STR_SLOTS][DWCP_STR_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dwcp_inflight_key);
	__type(value, struct inflight_value);
} inflight SEC(".maps");

// Per-CPU scratch: an inflight_value does not fit comfortably on the 512-byte BPF stack. Uprobe
// programs run preemptibly (PREEMPT kernels such as Debian's 7.x): another instance can run on the
// same CPU while one is preempted, so each nesting level has its own slot (see run_spec).
#define SCRATCH_SLOTS 4
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct inflight_value);
} scratch SEC(".maps");

// Per CPU: how many uprobe program instances are running on it (the scratch slot of the next).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} nesting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DWCP_MAX_PROBES * DWCP_DROP_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DWCP_MAX_SPECS);
	__type(key, __u32);
	__type(value, __u64);
} spec_hits SEC(".maps");

// One entry per observed process, created by the agent: presence is the tgid filter of the
// socket tracepoints.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DWCP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct dwcp_sock_stats);
} sock_stats SEC(".maps");

// Socket -> owning target, learnt when the target itself sends or receives on it, so that events
// raised in softirq or timer context (retransmits, resets, RTT) are charged to the right process.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} sock_owner SEC(".maps");

// Counters are added to atomically although they are per CPU: on preemptible kernels (Debian's
// 7.x) a program can be preempted between reading and writing a counter by another instance on the
// same CPU, and a plain += then loses the other's update (seen as one 64 KiB read missing).
static __always_inline void count_drop(__u32 probe_id, __u32 reason)
{
	__u32 key = (probe_id % DWCP_MAX_PROBES) * DWCP_DROP_COUNT + reason;
	__u64 *n = bpf_map_lookup_elem(&drops, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

// The Go ABI integer registers at the probe, copied once with constant offsets: the verifier
// refuses ctx reads at a computed offset, which is what a switch on the register index becomes.
struct go_regs {
	__u64 r[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct go_regs);
} regs_scratch SEC(".maps");

static __always_inline struct go_regs *capture_regs(struct pt_regs *ctx, __u32 slot)
{
	struct go_regs *regs = bpf_map_lookup_elem(&regs_scratch, &slot);
	if (!regs)
		return 0;
	regs->r[DWCP_REG_RAX] = ctx->ax;
	regs->r[DWCP_REG_RBX] = ctx->bx;
	regs->r[DWCP_REG_RCX] = ctx->cx;
	regs->r[DWCP_REG_RDI] = ctx->di;
	regs->r[DWCP_REG_RSI] = ctx->si;
	regs->r[DWCP_REG_R8] = ctx->r8;
	regs->r[DWCP_REG_R9] = ctx->r9;
	regs->r[DWCP_REG_R10] = ctx->r10;
	regs->r[DWCP_REG_R11] = ctx->r11;
	regs->r[15] = ctx->sp;
	return regs;
}
#define GO_REG_SP 15

static __always_inline int read_user_width(__u64 addr, __u8 width, __u64 *out)
{
	__u64 v = 0;
	int err;
	switch (width) {
	case 1: err = bpf_probe_read_user(&v, 1, (void *)addr); break;
	case 2: err = bpf_probe_read_user(&v, 2, (void *)addr); break;
	case 4: err = bpf_probe_read_user(&v, 4, (void *)addr); break;
	default: err = bpf_probe_read_user(&v, 8, (void *)addr); break;
	}
	*out = v;
	return err;
}

static __always_inline __u64 truncate_width(__u64 v, __u8 width)
{
	switch (width) {
	case 1: return v & 0xff;
	case 2: return v & 0xffff;
	case 4: return v & 0xffffffff;
	}
	return v;
}

// The value a location names: register or stack word, then its dereference chain.
// Returns 0 when read, 1 when the chain hit a nil pointer (*out = 0), -1 when a read failed.
static __always_inline int read_loc(const struct go_regs *regs, const struct dwcp_loc *loc, __u64 *out)
{
	__u64 v = 0;
	if (loc->base == DWCP_LOC_REG) {
		v = regs->r[loc->reg & 15];
	} else if (loc->base == DWCP_LOC_STACK) {
		if (bpf_probe_read_user(&v, 8, (void *)(regs->r[GO_REG_SP] + (__s64)loc->stack_off)))
			return -1;
	} else {
		return -1;
	}
	if (loc->nderef == 0) {
		*out = truncate_width(v, loc->width);
		return 0;
	}
#pragma unroll
	for (int i = 0; i < DWCP_MAX_DEREF; i++) {
		if (i >= loc->nderef)
			break;
		// A nil pointer (the *EncodedData of a failed Encode) makes the field 0: a normal
		// outcome the error result explains, not a failed read.
		if (v == 0)
			return 1;
		__u64 addr = v + (__s64)loc->deref[i];
		__u8 width = (i == loc->nderef - 1) ? loc->width : 8;
		if (read_user_width(addr, width, &v))
			return -1;
	}
	*out = v;
	return 0;
}

// Reads the fields of one phase into val[base..] and str[]; returns event flags.
static __always_inline __u32 read_fields(const struct go_regs *regs, const struct dwcp_probe_spec *spec,
					 __s64 *val, __u32 base, char (*str)[DWCP_STR_LEN])
{
	__u32 flags = 0;
#pragma unroll
	for (int i = 0; i < DWCP_MAX_FIELDS; i++) {
		if (i >= spec->nfields)
			break;
		const struct dwcp_field *f = &spec->fields[i];
		__u64 v = 0;
		int got = read_loc(regs, &f->loc, &v);
		if (got < 0) {
			flags |= DWCP_EVF_READ_FAILED;
			continue;
		}
		if (got > 0)
			v = 0; /* through a nil pointer */
		if (f->type == DWCP_FIELD_STRING) {
			__u64 len = 0;
			if (got > 0)
				continue; /* nil: empty string */
			if (read_loc(regs, &f->len_loc, &len) < 0) {
				flags |= DWCP_EVF_READ_FAILED;
				continue;
			}
			__u32 slot = f->slot & 1;
			__u32 n = len > DWCP_STR_LEN - 1 ? DWCP_STR_LEN - 1 : (__u32)len;
			if (len > DWCP_STR_LEN - 1)
				flags |= DWCP_EVF_STR_TRUNC;
			if (n > 0 && bpf_probe_read_user(str[slot], n & 63, (void *)v))
				flags |= DWCP_EVF_READ_FAILED;
			continue;
		}
		__u32 slot = (f->slot - base) & (DWCP_MAX_FIELDS - 1);
		if (f->type == DWCP_FIELD_NONNIL)
			val[slot] = v != 0;
		else
			val[slot] = (__s64)v + f->add;
	}
	return flags;
}

static __always_inline __u64 ringbuf_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									    : BPF_RB_NO_WAKEUP;
}

// ---- AMST session stream tables (per-stream bytes without a probe per chunk) -----------------
// As Close returns, DWCP's own per-stream counters are final: read the session's stream table
// there, while the caller surely still holds the session, and emit one DWCP_EV_STREAM_FINAL per
// stream, ahead of the session_close event. At the RET rather than the entry: once per call
// even when Go's prologue re-runs the entry (morestack), and counting what Close itself flushed.
// The agent reads the same counters from userspace while the session lives
// (agent/stream_reader.h).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dwcp_stream_layout);
} stream_layout SEC(".maps");

static __always_inline void emit_stream_table(__u64 session, __u32 tgid, __u32 probe_id, __u64 goroutine)
{
	__u32 zero = 0;
	const struct dwcp_stream_layout *layout = bpf_map_lookup_elem(&stream_layout, &zero);
	if (!layout || !layout->enabled || session == 0)
		return;
	__u64 table[2] = {}; // streams slice: data pointer, length
	if (bpf_probe_read_user(table, sizeof(table), (void *)(session + layout->streams_off))) {
		count_drop(probe_id, DWCP_DROP_READ_FAILED);
		return;
	}
	__u32 max = layout->max_streams;
	if (max > DWCP_MAX_SESSION_STREAMS)
		max = DWCP_MAX_SESSION_STREAMS;
	for (__u32 i = 0; i < DWCP_MAX_SESSION_STREAMS; i++) {
		if (i >= max || i >= table[1])
			break;
		__u64 stream = 0;
		__u32 flags = 0;
		if (bpf_probe_read_user(&stream, 8, (void *)(table[0] + 8 * (__u64)i)) || stream == 0)
			flags = DWCP_EVF_READ_FAILED;
		struct dwcp_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
		if (!ev) {
			count_drop(probe_id, DWCP_DROP_RINGBUF_FULL);
			return;
		}
		__builtin_memset(ev, 0, sizeof(*ev));
		ev->ts_ns = bpf_ktime_get_ns();
		ev->goroutine = goroutine;
		ev->tgid = tgid;
		ev->kind = DWCP_EV_STREAM_FINAL;
		ev->probe_id = probe_id;
		if (!flags) {
			__u64 id = 0, sent = 0, recv = 0;
			if (bpf_probe_read_user(&id, 8, (void *)(stream + layout->stream_id_off)) ||
			    bpf_probe_read_user(&sent, 8, (void *)(stream + layout->sent_off)) ||
			    bpf_probe_read_user(&recv, 8, (void *)(stream + layout->recv_off)))
				flags = DWCP_EVF_READ_FAILED;
			ev->val[DWCP_SLOT_FINAL_STREAM_ID] = (__s64)id;
			ev->val[DWCP_SLOT_FINAL_SENT] = (__s64)sent;
			ev->val[DWCP_SLOT_FINAL_RECV] = (__s64)recv;
		}
		if (flags)
			count_drop(probe_id, DWCP_DROP_READ_FAILED);
		ev->flags = flags;
		ev->val[DWCP_SLOT_SESSION] = (__s64)session;
		ev->val[DWCP_SLOT_FINAL_STREAM_PTR] = (__s64)stream;
		ev->val[DWCP_SLOT_FINAL_INDEX] = i;
		ev->val[DWCP_SLOT_FINAL_TABLE_LEN] = (__s64)table[1];
		bpf_ringbuf_submit(ev, ringbuf_flags());
	}
}

static __always_inline int handle_uprobe(struct pt_regs *ctx, __u32 spec_index, __u32 slot)
{
	const struct dwcp_probe_spec *spec = bpf_map_lookup_elem(&probe_specs, &spec_index);
	if (!spec)
		return 0;
	struct go_regs *regs = capture_regs(ctx, slot);
	if (!regs)
		return 0;
	__u64 *hits = bpf_map_lookup_elem(&spec_hits, &spec_index);
	if (hits)
		__sync_fetch_and_add(hits, 1);

	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 probe_id = spec->probe_id % DWCP_MAX_PROBES;
	// Go keeps the current goroutine's g in R14 (ABIInternal): the pairing key that survives
	// stack moves, unlike SP.
	struct dwcp_inflight_key key = {.goroutine = ctx->r14, .tgid = tgid, .probe_id = probe_id};

	if (spec->phase == DWCP_PHASE_ENTRY) {
		struct inflight_value *in = bpf_map_lookup_elem(&scratch, &slot);
		if (!in)
			return 0;
		__builtin_memset(in, 0, sizeof(*in));
		in->ts_ns = bpf_ktime_get_ns();
		in->flags = read_fields(regs, spec, in->val, 0, in->str);
		if (in->flags & DWCP_EVF_READ_FAILED)
			count_drop(probe_id, DWCP_DROP_READ_FAILED);
		if (bpf_map_update_elem(&inflight, &key, in, BPF_ANY))
			count_drop(probe_id, DWCP_DROP_MAP_FULL);
		return 0;
	}

	struct inflight_value *entry = 0;
	if (spec->phase == DWCP_PHASE_EXIT) {
		entry = bpf_map_lookup_elem(&inflight, &key);
		if (!entry) {
			count_drop(probe_id, DWCP_DROP_UNMATCHED_EXIT);
			return 0;
		}
		if (spec->kind == DWCP_EV_SESSION_CLOSE)
			emit_stream_table((__u64)entry->val[DWCP_SLOT_SESSION], tgid, probe_id, key.goroutine);
	}

	struct dwcp_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(probe_id, DWCP_DROP_RINGBUF_FULL);
		if (entry)
			bpf_map_delete_elem(&inflight, &key);
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->goroutine = key.goroutine;
	ev->tgid = tgid;
	ev->kind = spec->kind;
	ev->probe_id = probe_id;
	__u32 read_flags;
	if (entry) {
		ev->flags = entry->flags | DWCP_EVF_PAIRED;
		ev->duration_ns = ev->ts_ns - entry->ts_ns;
		__builtin_memcpy(ev->val, entry->val, sizeof(entry->val));
		__builtin_memcpy(ev->str, entry->str, sizeof(entry->str));
		bpf_map_delete_elem(&inflight, &key);
		read_flags = read_fields(regs, spec, &ev->val[DWCP_MAX_FIELDS], DWCP_MAX_FIELDS, ev->str);
		ev->flags |= read_flags;
	} else {
		read_flags = read_fields(regs, spec, ev->val, 0, ev->str);
		ev->flags = read_flags;
	}
	// This phase's failures only: an entry's were counted at the entry (the flag it carries over
	// still marks the event).
	if (read_flags & DWCP_EVF_READ_FAILED)
		count_drop(probe_id, DWCP_DROP_READ_FAILED);
	bpf_ringbuf_submit(ev, ringbuf_flags());
	return 0;
}

// Where the spec index comes from depends on the kernel (agent/kernel_features.h):
//  - the BPF cookie of the attachment (5.15+), as one uprobe_multi link per target (6.6+) or one
//    classic uprobe per site; the agent sets the multi program's expected attach type before load;
//  - without cookies, a map keyed by {tgid, probed virtual address}: in a uprobe handler the
//    instruction pointer is the probed instruction's address (the kernel rewinds it past the
//    breakpoint before running handlers). The agent fills it per target and empties it at detach.
// Only the variant the kernel can take is loaded; the others are switched off before the load.
// Linux 6.14+ may run a program with a deep stack on a per-CPU private stack. Uprobe programs run
// preemptibly, so two of them on one CPU share that stack and corrupt each other (seen on
// Debian's 7.2 as a NULL dereference inside this program). A program that may tail-call never
// gets a private stack: this one may, into an array that stays empty (a no-op), for an index no
// spec has. One array per program: a program array takes programs of one attach type only.
#define NO_PRIVATE_STACK_ARRAY(name)                       \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);     \
		__uint(max_entries, 1);                    \
		__type(key, __u32);                        \
		__type(value, __u32);                      \
	} name SEC(".maps")
NO_PRIVATE_STACK_ARRAY(no_private_stack);
NO_PRIVATE_STACK_ARRAY(no_private_stack_multi);
NO_PRIVATE_STACK_ARRAY(no_private_stack_addr);

static __always_inline int run_spec(struct pt_regs *ctx, __u32 spec_index, void *no_private_stack)
{
	if (spec_index >= DWCP_MAX_SPECS) {
		bpf_tail_call(ctx, no_private_stack, 0);
		return 0;
	}
	// Take the next scratch slot of this CPU, give it back after. (A preemption between the read
	// and the write below could still hand one slot to two instances: a window of two
	// instructions instead of the whole program.)
	__u32 zero = 0;
	__u32 *depth = bpf_map_lookup_elem(&nesting, &zero);
	if (!depth)
		return 0;
	__u32 slot = *depth;
	if (slot >= SCRATCH_SLOTS) {
		count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
		return 0;
	}
	*depth = slot + 1;
	handle_uprobe(ctx, spec_index, slot);
	*depth = slot;
	return 0;
}

SEC("uprobe")
int dwcp_uprobe(struct pt_regs *ctx)
{
	return run_spec(ctx, (__u32)bpf_get_attach_cookie(ctx), &no_private_stack);
}

SEC("uprobe")
int dwcp_uprobe_multi(struct pt_regs *ctx)
{
	return run_spec(ctx, (__u32)bpf_get_attach_cookie(ctx), &no_private_stack_multi);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DWCP_MAX_TARGETS * DWCP_MAX_SITES_PER_TARGET);
	__type(key, struct dwcp_spec_addr_key);
	__type(value, __u32);
} spec_by_addr SEC(".maps");

SEC("uprobe")
int dwcp_uprobe_addr(struct pt_regs *ctx)
{
	struct dwcp_spec_addr_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .addr = PT_REGS_IP(ctx)};
	__u32 *spec_index = bpf_map_lookup_elem(&spec_by_addr, &key);
	if (!spec_index)
		return 0;
	return run_spec(ctx, *spec_index, &no_private_stack_addr);
}

// ---- kernel-side socket counters ------------------------------------------------------------

static __always_inline bool is_tcp(const struct sock *sk)
{
	if (!sk)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 protocol = BPF_CORE_READ(sk, sk_protocol);
	return protocol == IPPROTO_TCP_ && (family == AF_INET_ || family == AF_INET6_);
}

static __always_inline struct dwcp_sock_stats *stats_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&sock_stats, &tgid);
}

static __always_inline void remember_owner(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *known = bpf_map_lookup_elem(&sock_owner, &key);
	if (known && *known == tgid)
		return;
	if (bpf_map_update_elem(&sock_owner, &key, &tgid, BPF_ANY))
		count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
}

static __always_inline struct dwcp_sock_stats *stats_of_owner(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 *tgid = bpf_map_lookup_elem(&sock_owner, &key);
	if (!tgid)
		return 0;
	return bpf_map_lookup_elem(&sock_stats, tgid);
}

// Socket bytes, with the semantics of the sock_send_length/sock_recv_length tracepoints (6.3+):
// TCP only, ret > 0 is bytes, -EAGAIN is not an error, MSG_PEEK reads are not counted.
static __always_inline void count_send(struct sock *sk, int ret)
{
	struct dwcp_sock_stats *st = stats_of_current();
	if (!st || !is_tcp(sk))
		return;
	__sync_fetch_and_add(&st->send_calls, 1);
	if (ret > 0)
		__sync_fetch_and_add(&st->bytes_sent, ret);
	else if (ret < 0 && ret != -EAGAIN_)
		__sync_fetch_and_add(&st->send_errors, 1);
	remember_owner(sk);
}

static __always_inline void count_recv(struct sock *sk, int ret, int flags)
{
	struct dwcp_sock_stats *st = stats_of_current();
	if (!st || !is_tcp(sk) || (flags & MSG_PEEK_))
		return;
	__sync_fetch_and_add(&st->recv_calls, 1);
	if (ret > 0)
		__sync_fetch_and_add(&st->bytes_received, ret);
	else if (ret < 0 && ret != -EAGAIN_)
		__sync_fetch_and_add(&st->recv_errors, 1);
	remember_owner(sk);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk, int ret, int flags)
{
	count_send(sk, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv_length, struct sock *sk, int ret, int flags)
{
	count_recv(sk, ret, flags);
	return 0;
}

// Before 6.3: the same counts from the return of the TCP functions those tracepoints wrap
// (sock_sendmsg -> inet_sendmsg -> tcp_sendmsg; likewise for receive). tcp_recvmsg lost its
// `nonblock` argument in 5.19 (MSG_DONTWAIT stays in flags); the agent loads the variant whose
// argument count matches the kernel's BTF.
SEC("fexit/tcp_sendmsg")
int BPF_PROG(on_tcp_sendmsg_exit, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	count_send(sk, ret);
	return 0;
}

SEC("fexit/tcp_recvmsg")
int BPF_PROG(on_tcp_recvmsg_exit, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	count_recv(sk, ret, flags);
	return 0;
}

SEC("fexit/tcp_recvmsg")
int BPF_PROG(on_tcp_recvmsg_exit_nonblock, struct sock *sk, struct msghdr *msg, size_t len,
	     int nonblock, int flags, int *addr_len, int ret)
{
	count_recv(sk, ret, flags);
	return 0;
}

// Listening sockets of targets, by {network namespace, local port}: a passive open is charged to
// the process whose listener it arrived on. Filled at listen() (process context) and by the agent
// for listeners that existed before it attached.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dwcp_listen_key);
	__type(value, __u32);
} listeners SEC(".maps");

static __always_inline struct dwcp_listen_key listen_key_of(const struct sock *sk)
{
	struct dwcp_listen_key key = {
		.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum),
		.port = BPF_CORE_READ(sk, __sk_common.skc_num),
	};
	return key;
}

static __always_inline void set_owner(const struct sock *sk, __u32 tgid)
{
	__u64 key = (__u64)sk;
	if (bpf_map_update_elem(&sock_owner, &key, &tgid, BPF_ANY))
		count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
}

// Each end of a connection is charged to the process that owns its socket, whoever's context the
// state change runs in (on loopback the handshake of both ends runs in the connecting process):
//  - active open: connect() moves the socket to SYN_SENT in its owner's context; ESTABLISHED
//    (in softirq) is charged to that owner;
//  - passive open: the accepted socket reaches ESTABLISHED from SYN_RECV in softirq; it is charged
//    to the owner of the listener on its local port.
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (!is_tcp(sk))
		return 0;
	if (newstate == TCP_SYN_SENT_) {
		if (stats_of_current())
			set_owner(sk, bpf_get_current_pid_tgid() >> 32);
		return 0;
	}
	if (newstate == TCP_LISTEN_) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		struct dwcp_listen_key key = listen_key_of(sk);
		if (stats_of_current() && bpf_map_update_elem(&listeners, &key, &tgid, BPF_ANY))
			count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED_) {
		struct dwcp_sock_stats *st = 0;
		if (oldstate == TCP_SYN_SENT_) {
			st = stats_of_owner(sk);
		} else if (oldstate == TCP_SYN_RECV_) {
			struct dwcp_listen_key key = listen_key_of(sk);
			__u32 *tgid = bpf_map_lookup_elem(&listeners, &key);
			if (tgid) {
				st = bpf_map_lookup_elem(&sock_stats, tgid);
				if (st)
					set_owner(sk, *tgid);
			}
		}
		if (st)
			__sync_fetch_and_add(&st->connections_opened, 1);
		return 0;
	}
	if (newstate == TCP_CLOSE_) {
		if (oldstate == TCP_LISTEN_) {
			struct dwcp_listen_key key = listen_key_of(sk);
			bpf_map_delete_elem(&listeners, &key);
			return 0;
		}
		// A connect that failed (SYN_SENT -> CLOSE) never opened.
		struct dwcp_sock_stats *st = stats_of_owner(sk);
		if (st && oldstate != TCP_CLOSE_ && oldstate != TCP_SYN_SENT_)
			__sync_fetch_and_add(&st->connections_closed, 1);
		__u64 key = (__u64)sk;
		bpf_map_delete_elem(&sock_owner, &key);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_tcp_retransmit_skb, const struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (st)
		__sync_fetch_and_add(&st->retransmits, 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_tcp_send_reset, const struct sock *sk)
{
	struct dwcp_sock_stats *st = sk ? stats_of_owner(sk) : 0;
	if (!st)
		st = stats_of_current();
	if (st)
		__sync_fetch_and_add(&st->resets_sent, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_tcp_receive_reset, struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (st)
		__sync_fetch_and_add(&st->resets_received, 1);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (!st)
		return 0;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 srtt8 = BPF_CORE_READ(tp, srtt_us); // stored << 3
	__sync_fetch_and_add(&st->srtt_us_sum, srtt8 >> 3);
	__sync_fetch_and_add(&st->srtt_samples, 1);
	return 0;
}
