/* SPDX-License-Identifier: GPL-2.0-only */
// A target's TCP bytes and calls, counted in its own sock_stats entry from the socket byte
// programs (observer.bpf.c: the sock_*_length tracepoints, or fexit on tcp_sendmsg/tcp_recvmsg
// before 6.3), the same bytes per socket (socket_bytes, by inode number: what the agent compares
// with DWCP's per-stream counters), and the socket -> owner map that lets softirq-context events
// find the target.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

#include "maps.bpf.h"

#define IPPROTO_TCP_ 6
#define AF_INET_ 2
#define AF_INET6_ 10
#define MSG_PEEK_ 2
#define EEXIST_ 17

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

static __always_inline void set_owner(const struct sock *sk, __u32 tgid)
{
	__u64 key = (__u64)sk;
	if (bpf_map_update_elem(&sock_owner, &key, &tgid, BPF_ANY))
		count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
}

static __always_inline void remember_owner(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *known = bpf_map_lookup_elem(&sock_owner, &key);
	if (known && *known == tgid)
		return;
	set_owner(sk, tgid);
}

static __always_inline struct dwcp_sock_stats *stats_of_owner(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 *tgid = bpf_map_lookup_elem(&sock_owner, &key);
	if (!tgid)
		return 0;
	return bpf_map_lookup_elem(&sock_stats, tgid);
}

// The socket's inode number, the N of its "socket:[N]" link in /proc/PID/fd: how the agent finds
// the socket an AMST stream holds. 0 for a socket without a file (kernel sockets).
static __always_inline __u64 socket_inode(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

// Adds to one socket's byte counts, creating its entry at its first bytes. A failed creation is a
// loss like any other (drops, socket pseudo probe); a creation that another CPU won is not.
static __always_inline void add_socket_bytes(__u64 ino, __u64 sent, __u64 received)
{
	if (!ino)
		return;
	struct dwcp_socket_bytes *bytes = bpf_map_lookup_elem(&socket_bytes, &ino);
	if (!bytes) {
		struct dwcp_socket_bytes zero = {};
		long err = bpf_map_update_elem(&socket_bytes, &ino, &zero, BPF_NOEXIST);
		if (err && err != -EEXIST_) {
			count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
			return;
		}
		bytes = bpf_map_lookup_elem(&socket_bytes, &ino);
		if (!bytes) {
			count_drop(DWCP_PROBE_ID_SOCKET, DWCP_DROP_MAP_FULL);
			return;
		}
	}
	if (sent)
		__sync_fetch_and_add(&bytes->sent, sent);
	if (received)
		__sync_fetch_and_add(&bytes->received, received);
}

// Socket bytes, with the semantics of the sock_send_length/sock_recv_length tracepoints (6.3+):
// TCP only, ret > 0 is bytes, MSG_PEEK reads are not counted. Every call counts (the runs the
// socket programs' cost is charged by, and dwcp_observer_tcp_*_calls_total).
static __always_inline void count_send(struct sock *sk, int ret)
{
	struct dwcp_sock_stats *st = stats_of_current();
	if (!st || !is_tcp(sk))
		return;
	__sync_fetch_and_add(&st->send_calls, 1);
	if (ret > 0) {
		__sync_fetch_and_add(&st->bytes_sent, ret);
		add_socket_bytes(socket_inode(sk), ret, 0);
	}
	remember_owner(sk);
}

static __always_inline void count_recv(struct sock *sk, int ret, int flags)
{
	struct dwcp_sock_stats *st = stats_of_current();
	if (!st || !is_tcp(sk) || (flags & MSG_PEEK_))
		return;
	__sync_fetch_and_add(&st->recv_calls, 1);
	if (ret > 0) {
		__sync_fetch_and_add(&st->bytes_received, ret);
		add_socket_bytes(socket_inode(sk), 0, ret);
	}
	remember_owner(sk);
}
