// SPDX-License-Identifier: GPL-2.0-only
//
// dwcp-observer's kernel side, its programs: one generic uprobe program whose behaviour per attach
// point comes from a spec table (BPF cookie -> struct dwcp_probe_spec), and BTF-typed tracepoints
// that count a target's TCP bytes, connections, retransmits and resets in per-CPU maps read at
// scrape time. The agent switches programs on or off by these names (agent/bpf_load.cpp).
//  - maps.bpf.h: every map and the loss counter;
//  - uprobe_handler.bpf.h: what one uprobe hit does (also run by the BPF unit tier, tests/bpf/);
//  - sockets.bpf.h, connections.bpf.h: the socket and TCP counters.
// The contract with userspace is include/dwcp_observer/events.h; nothing is defined twice.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "connections.bpf.h"
#include "maps.bpf.h"
#include "sockets.bpf.h"
#include "uprobe_handler.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// The contract version this object was built against: the agent reads it after opening the
// object and refuses to load one built against another (agent/bpf_abi.h).
const volatile __u32 dwcp_abi_version = DWCP_ABI_VERSION;

// ---- uprobes (uprobe_handler.bpf.h) ----------------------------------------------------------

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
	return handle_nested(ctx, spec_index);
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

SEC("uprobe")
int dwcp_uprobe_addr(struct pt_regs *ctx)
{
	struct dwcp_spec_addr_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .addr = PT_REGS_IP(ctx)};
	__u32 *spec_index = bpf_map_lookup_elem(&spec_by_addr, &key);
	if (!spec_index)
		return 0;
	return run_spec(ctx, *spec_index, &no_private_stack_addr);
}

// ---- socket bytes (sockets.bpf.h) -------------------------------------------------------------

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

// ---- process starts and ends (discovery, lifecycle) ------------------------------------------

static __always_inline void send_proc_event(__u32 tgid, __u32 kind)
{
	struct dwcp_proc_event event = {.tgid = tgid, .kind = kind};
	if (bpf_ringbuf_output(&proc_events, &event, sizeof(event), 0)) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&proc_events_lost, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	send_proc_event(p->tgid, DWCP_PROC_EXEC);
	return 0;
}

// Fires for every thread; only the end of an observed process matters (the agent detaches and
// looks for its successor at once instead of at its next 200 ms check). do_exit() counts the
// thread out of signal->live before this tracepoint: 0 means the last thread is going.
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_sched_process_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;
	if (p->signal->live.counter != 0 || !bpf_map_lookup_elem(&sock_stats, &tgid))
		return 0;
	send_proc_event(tgid, DWCP_PROC_EXIT);
	return 0;
}

// ---- connections, retransmits, resets, RTT (connections.bpf.h) -------------------------------

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	on_state_change(sk, oldstate, newstate);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_tcp_retransmit_skb, const struct sock *sk)
{
	count_retransmit(sk);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_tcp_send_reset, const struct sock *sk)
{
	count_reset_sent(sk);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_tcp_receive_reset, struct sock *sk)
{
	count_reset_received(sk);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk)
{
	sample_rtt(sk);
	return 0;
}
