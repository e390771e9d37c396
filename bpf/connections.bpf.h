/* SPDX-License-Identifier: GPL-2.0-only */
// A target's TCP connections: opens and closes charged to the socket's owner (from the
// inet_sock_set_state tracepoint), retransmits, resets and smoothed RTT samples (tcp tracepoints).
// The programs are in observer.bpf.c.
#pragma once

#include "sockets.bpf.h"

#define TCP_ESTABLISHED_ 1
#define TCP_SYN_SENT_ 2
#define TCP_SYN_RECV_ 3
#define TCP_CLOSE_ 7
#define TCP_LISTEN_ 10

static __always_inline struct dwcp_listen_key listen_key_of(const struct sock *sk)
{
	struct dwcp_listen_key key = {
		.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum),
		.port = BPF_CORE_READ(sk, __sk_common.skc_num),
	};
	return key;
}

// Each end of a connection is charged to the process that owns its socket, whoever's context the
// state change runs in (on loopback the handshake of both ends runs in the connecting process):
//  - active open: connect() moves the socket to SYN_SENT in its owner's context; ESTABLISHED
//    (in softirq) is charged to that owner;
//  - passive open: the accepted socket reaches ESTABLISHED from SYN_RECV in softirq; it is charged
//    to the owner of the listener on its local port.
static __always_inline void on_state_change(const struct sock *sk, int oldstate, int newstate)
{
	if (!is_tcp(sk))
		return;
	if (newstate == TCP_SYN_SENT_) {
		if (stats_of_current())
			set_owner(sk, bpf_get_current_pid_tgid() >> 32);
		return;
	}
	if (newstate == TCP_LISTEN_) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		struct dwcp_listen_key key = listen_key_of(sk);
		if (stats_of_current() && bpf_map_update_elem(&listeners, &key, &tgid, BPF_ANY))
			count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
		return;
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
		return;
	}
	if (newstate == TCP_CLOSE_) {
		if (oldstate == TCP_LISTEN_) {
			struct dwcp_listen_key key = listen_key_of(sk);
			bpf_map_delete_elem(&listeners, &key);
			return;
		}
		// A connect that failed (SYN_SENT -> CLOSE) never opened.
		struct dwcp_sock_stats *st = stats_of_owner(sk);
		if (st && oldstate != TCP_CLOSE_ && oldstate != TCP_SYN_SENT_)
			__sync_fetch_and_add(&st->connections_closed, 1);
		__u64 key = (__u64)sk;
		bpf_map_delete_elem(&sock_owner, &key);
	}
}

static __always_inline void count_retransmit(const struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (st)
		__sync_fetch_and_add(&st->retransmits, 1);
}

// A reset may be sent for no socket (an unknown port): then it is the current process's.
static __always_inline void count_reset_sent(const struct sock *sk)
{
	struct dwcp_sock_stats *st = sk ? stats_of_owner(sk) : 0;
	if (!st)
		st = stats_of_current();
	if (st)
		__sync_fetch_and_add(&st->resets_sent, 1);
}

static __always_inline void count_reset_received(const struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (st)
		__sync_fetch_and_add(&st->resets_received, 1);
}

static __always_inline void sample_rtt(const struct sock *sk)
{
	struct dwcp_sock_stats *st = stats_of_owner(sk);
	if (!st)
		return;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 srtt8 = BPF_CORE_READ(tp, srtt_us); // stored << 3
	__sync_fetch_and_add(&st->srtt_us_sum, srtt8 >> 3);
	__sync_fetch_and_add(&st->srtt_samples, 1);
}
