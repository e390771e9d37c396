/* SPDX-License-Identifier: GPL-2.0-only */
// The body of the generic uprobe program: one probe hit read as its spec says (registers, stack
// words, pointer chains, Go strings), paired with its entry by goroutine, emitted to the ring
// buffer, every loss counted. Everything here is __always_inline and takes the registers as a
// struct pt_regs pointer, so that the uprobe programs (observer.bpf.c) and the BPF unit tier's
// raw_tp wrapper (tests/bpf/uprobe_test.bpf.c, through BPF_PROG_TEST_RUN) run the same code.
#pragma once

#include "maps.bpf.h"

#include <bpf/bpf_tracing.h>

// Go's integer argument/result registers in assignment order (dwcp_go_reg), then SP, and the
// register that holds the current goroutine's g: per architecture, through libbpf's pt_regs
// cast (arm64's uprobe context is a struct user_pt_regs).
#if defined(__TARGET_ARCH_arm64)
#define GO_INT_REGS DWCP_REG_COUNT_ARM64
#define GO_G_REG(ctx) (__PT_REGS_CAST(ctx)->regs[28])
#define GO_INT_REG(ctx, i) (__PT_REGS_CAST(ctx)->regs[i])
#elif defined(__TARGET_ARCH_x86)
#define GO_INT_REGS DWCP_REG_COUNT_AMD64
#define GO_G_REG(ctx) (__PT_REGS_CAST(ctx)->r14)
#else
#error "build with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64"
#endif

static __always_inline struct go_regs *capture_regs(struct pt_regs *ctx, __u32 slot)
{
	struct go_regs *regs = bpf_map_lookup_elem(&regs_scratch, &slot);
	if (!regs)
		return 0;
#if defined(__TARGET_ARCH_arm64)
#pragma unroll
	for (int i = 0; i < GO_INT_REGS; i++)
		regs->r[i] = GO_INT_REG(ctx, i);
#else
	const struct pt_regs *r = __PT_REGS_CAST(ctx);
	regs->r[0] = r->ax;
	regs->r[1] = r->bx;
	regs->r[2] = r->cx;
	regs->r[3] = r->di;
	regs->r[4] = r->si;
	regs->r[5] = r->r8;
	regs->r[6] = r->r9;
	regs->r[7] = r->r10;
	regs->r[8] = r->r11;
#endif
	regs->r[GO_REG_SP] = PT_REGS_SP(ctx);
	return regs;
}

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
		v = regs->r[loc->reg % DWCP_REG_COUNT];
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

// AMST session stream tables (per-stream bytes without a probe per chunk).
// DWCP's own per-stream counters are final as Close returns, and the streams AdjustStreams closes
// leave the table as it returns. But both change the session's slice before their RET (Close sets
// m.streams = nil, AdjustStreams cuts it), so the entry saves the slice's array pointer and length
// (save_stream_table) and the RET reads every stream through them (emit_stream_table): one
// DWCP_EV_STREAM_FINAL per stream, ahead of the probe's own event. At the RET rather than the
// entry: chunks of a Send still running at Close's entry are counted before Close gets its lock,
// and the RET fires once per call even when Go's prologue re-runs the entry (morestack). The agent
// reads the same counters from userspace while the session lives (agent/stream_reader.h).
static __always_inline const struct dwcp_stream_layout *stream_layout_on(void)
{
	__u32 zero = 0;
	const struct dwcp_stream_layout *layout = bpf_map_lookup_elem(&stream_layout, &zero);
	return layout && layout->enabled ? layout : 0;
}

static __always_inline bool saves_stream_table(__u16 kind)
{
	return kind == DWCP_EV_SESSION_CLOSE || kind == DWCP_EV_ADJUST_STREAMS;
}

static __always_inline void save_stream_table(struct inflight_value *in, __u32 probe_id)
{
	const struct dwcp_stream_layout *layout = stream_layout_on();
	__u64 session = (__u64)in->val[DWCP_SLOT_SESSION];
	if (!layout || session == 0)
		return;
	__u64 table[2] = {}; // streams slice: data pointer, length
	if (bpf_probe_read_user(table, sizeof(table), (void *)(session + layout->streams_off))) {
		count_drop(probe_id, DWCP_DROP_READ_FAILED);
		return;
	}
	in->table_ptr = table[0];
	in->table_len = table[1];
}

static __always_inline void emit_stream_table(__u64 session, __u64 table_ptr, __u64 table_len, __u32 tgid,
					      __u32 probe_id, __u64 goroutine)
{
	const struct dwcp_stream_layout *layout = stream_layout_on();
	if (!layout || session == 0)
		return;
	__u32 max = layout->max_streams;
	if (max > DWCP_MAX_SESSION_STREAMS)
		max = DWCP_MAX_SESSION_STREAMS;
	for (__u32 i = 0; i < DWCP_MAX_SESSION_STREAMS; i++) {
		if (i >= max || i >= table_len)
			break;
		__u64 stream = 0;
		__u32 flags = 0;
		if (bpf_probe_read_user(&stream, 8, (void *)(table_ptr + 8 * (__u64)i)) || stream == 0)
			flags = DWCP_EVF_READ_FAILED;
		struct dwcp_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
		if (!ev) {
			// Each stream's event is counted lost on its own: the agent may drain the ring
			// between two reservations, and the next stream's figure may still fit.
			count_drop(probe_id, DWCP_DROP_RINGBUF_FULL);
			continue;
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
		ev->val[DWCP_SLOT_FINAL_TABLE_LEN] = (__s64)table_len;
		ev->val[DWCP_SLOT_FINAL_TABLE_PTR] = (__s64)table_ptr;
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
	// Go keeps the current goroutine's g in a register (ABIInternal: amd64 R14, arm64 R28): the
	// pairing key that survives stack moves, unlike SP.
	struct dwcp_inflight_key key = {.goroutine = GO_G_REG(ctx), .tgid = tgid, .probe_id = probe_id};

	if (spec->phase == DWCP_PHASE_ENTRY) {
		struct inflight_value *in = bpf_map_lookup_elem(&scratch, &slot);
		if (!in)
			return 0;
		__builtin_memset(in, 0, sizeof(*in));
		in->ts_ns = bpf_ktime_get_ns();
		in->flags = read_fields(regs, spec, in->val, 0, in->str);
		if (in->flags & DWCP_EVF_READ_FAILED)
			count_drop(probe_id, DWCP_DROP_READ_FAILED);
		if (saves_stream_table(spec->kind))
			save_stream_table(in, probe_id);
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
		if (saves_stream_table(spec->kind))
			emit_stream_table((__u64)entry->val[DWCP_SLOT_SESSION], entry->table_ptr, entry->table_len, tgid,
					  probe_id, key.goroutine);
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

// One uprobe hit on the next scratch slot of this CPU, given back after. (A preemption between the
// read and the write below could still hand one slot to two instances: a window of two
// instructions instead of the whole program.) A hit that finds every slot taken is lost and
// counted as such, on its own probe.
static __always_inline int handle_nested(struct pt_regs *ctx, __u32 spec_index)
{
	__u32 zero = 0;
	__u32 *depth = bpf_map_lookup_elem(&nesting, &zero);
	if (!depth)
		return 0;
	__u32 slot = *depth;
	if (slot >= SCRATCH_SLOTS) {
		const struct dwcp_probe_spec *spec = bpf_map_lookup_elem(&probe_specs, &spec_index);
		if (spec)
			count_drop(spec->probe_id, DWCP_DROP_SCRATCH_FULL);
		return 0;
	}
	*depth = slot + 1;
	handle_uprobe(ctx, spec_index, slot);
	*depth = slot;
	return 0;
}
