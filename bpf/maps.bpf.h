/* SPDX-License-Identifier: GPL-2.0-only */
// The maps of the kernel side and the loss counter over them. Userspace finds every map by the
// name given here (agent/bpf_load.cpp, skeleton `observer`); key and value types come from the
// contract (dwcp_observer/events.h). Included by observer.bpf.c and by the BPF unit tier's test
// object (tests/bpf/), which thereby runs on the same maps.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "dwcp_observer/events.h"

// Set by the agent before load. Wake the consumer only once this much is queued: it drains on a
// short timer anyway, and a wake-up per event would cost a context switch per probe hit.
const volatile __u64 wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // resized by the agent (--ringbuf-size)
} events SEC(".maps");

// Process execs and observed processes' exits (struct dwcp_proc_event). Small records, each
// submitted with the default wake-up (the agent is woken as soon as it has drained the last):
// discovery judges a new process within milliseconds of its exec. 64 KiB hold 8,192 of them;
// an exec that finds it full is counted (proc_events_lost) and found by the next /proc resync.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proc_events_lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DWCP_MAX_SPECS);
	__type(key, __u32);
	__type(value, struct dwcp_probe_spec);
} probe_specs SEC(".maps");

// Kernels without BPF cookies: spec index by {tgid, probed address} (agent/kernel_features.h).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DWCP_MAX_TARGETS * DWCP_MAX_SITES_PER_TARGET);
	__type(key, struct dwcp_spec_addr_key);
	__type(value, __u32);
} spec_by_addr SEC(".maps");

// Entry values waiting for their exit. LRU, so that calls that never return (a goroutine that
// panicked, a process that died) cannot fill it for good; an evicted entry surfaces as an
// unmatched exit and is counted.
struct inflight_value {
	__u64 ts_ns;
	__u32 flags;
	__u32 _pad;
	__s64 val[DWCP_MAX_FIELDS];
	char str[DWCP_STR_SLOTS][DWCP_STR_LEN];
	// session_close / adjust_streams: the session's stream slice (array pointer, length) as the
	// call began; DWCP empties or cuts the slice before the RET (dwcp_stream_layout).
	__u64 table_ptr;
	__u64 table_len;
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

// The Go ABI integer registers at the probe, copied once with constant offsets: the verifier
// refuses ctx reads at a computed offset, which is what a switch on the register index becomes.
struct go_regs {
	__u64 r[DWCP_REG_COUNT + 1];
};
#define GO_REG_SP DWCP_REG_COUNT

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct go_regs);
} regs_scratch SEC(".maps");

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

// Where a session's stream table lives (dwcp_stream_layout), written by the agent.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dwcp_stream_layout);
} stream_layout SEC(".maps");

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

// Bytes per socket of a target, by socket inode number: the kernel's side of the agent's
// consistency check (agent/stream_sockets.h). LRU: a target's short-lived sockets (HTTP, DNS) age
// out instead of filling it; the agent deletes an AMST stream's sockets once their session closed.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DWCP_MAX_TRACKED_SOCKETS);
	__type(key, __u64);
	__type(value, struct dwcp_socket_bytes);
} socket_bytes SEC(".maps");

// Listening sockets of targets, by {network namespace, local port}: a passive open is charged to
// the process whose listener it arrived on. Filled at listen() (process context) and by the agent
// for listeners that existed before it attached.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dwcp_listen_key);
	__type(value, __u32);
} listeners SEC(".maps");

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
