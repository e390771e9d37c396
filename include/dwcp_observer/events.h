/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
 *
 * The one contract between the BPF programs (bpf/observer.bpf.c) and the agent (userspace/).
 * Both sides include this file; nothing here is duplicated elsewhere. Fixed-width types only,
 * explicit padding, sizes asserted in userspace (see the static_asserts at the end).
 *
 * Flow: the agent writes one `dwcp_probe_spec` per attach point into the `probe_specs` array map
 * and attaches the generic uprobe program with the spec's index as BPF cookie. The program reads
 * the fields the spec names (Go ABIInternal registers, stack slots, pointer dereferences), and
 * either emits a `dwcp_event` at once (entry-only probes) or keeps the entry values keyed by
 * goroutine until one of the function's RET instructions is hit (paired probes), then emits one
 * event holding entry values, exit values and the duration.
 */
#ifndef DWCP_OBSERVER_EVENTS_H
#define DWCP_OBSERVER_EVENTS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Contract versions: 2 adds adjust_streams and the saved stream table; 3 the process exec/exit
 * events (proc_events); 4: dwcp_loc.reg is an index in the architecture's register assignment
 * order (dwcp_go_reg), up to 16 registers (arm64); it named amd64's registers before. 5: the
 * scratch_full drop reason; dwcp_sock_stats without its send/recv error counters (never read). */
#define DWCP_ABI_VERSION 5

#define DWCP_MAX_PROBES 64                   /* functions of one profile */
#define DWCP_MAX_SPECS (2 * DWCP_MAX_PROBES) /* spec 2*probe_id: entry, 2*probe_id+1: exit (all RET sites) */
#define DWCP_MAX_DEREF 3                     /* pointer hops per location */
#define DWCP_MAX_FIELDS 4                    /* fields read per phase (entry or exit) */
#define DWCP_STR_LEN 48                      /* bytes kept of a string field */
#define DWCP_MAX_TARGETS 16                  /* processes observed at once */

/* What happened, as the profile names it (`"event": "send_chunk"` -> DWCP_EV_SEND_CHUNK). */
enum dwcp_event_kind {
  DWCP_EV_NONE = 0,
  DWCP_EV_SESSION_START,   /* MultiStreamTCP.Start */
  DWCP_EV_STREAM_OPEN,     /* createStream(streamID) */
  DWCP_EV_SEND,            /* Send(data): one transfer */
  DWCP_EV_SEND_CHUNK,      /* sendChunk(stream, chunk, id): per-stream bytes sent */
  DWCP_EV_RECEIVE,         /* Receive(expectedSize) */
  DWCP_EV_RECEIVE_CHUNK,   /* receiveChunk(stream): per-stream bytes received */
  DWCP_EV_SESSION_CLOSE,   /* Close: every stream of the session closed */
  DWCP_EV_RECONNECT,       /* reconnectStream(stream) */
  DWCP_EV_ENCODE,          /* DeltaEncoder.Encode */
  DWCP_EV_DECODE,          /* DeltaEncoder.Decode */
  DWCP_EV_PRUNE,           /* DeltaEncoder.PruneOldBaselines */
  DWCP_EV_COMPRESS_MEMORY, /* HDE.CompressMemory */
  DWCP_EV_COMPRESS_DISK,   /* HDE.CompressDisk */
  DWCP_EV_DECOMPRESS,      /* HDE.Decompress */
  DWCP_EV_MIGRATE_MEMORY,  /* MigrationAdapter.MigrateVMMemory */
  DWCP_EV_MIGRATE_DISK,    /* MigrationAdapter.MigrateVMDisk */
  DWCP_EV_FED_SYNC,        /* FederationAdapter.SyncClusterState */
  DWCP_EV_FED_BASELINE,    /* FederationAdapter.PropagateBaseline */
  /* Appended (never renumber the kinds above). Emitted by the BPF program itself, not named by a
   * profile probe: at each RET of a session_close probe (before its own event), one event per
   * stream of the session's stream table (struct dwcp_stream_layout): DWCP's own final
   * per-stream byte counters (read through the table saved at the probe's entry). Also at each
   * RET of an adjust_streams probe. */
  DWCP_EV_STREAM_FINAL,
  DWCP_EV_ADJUST_STREAMS, /* MultiStreamTCP.AdjustStreams: streams added or closed and cut off */
  DWCP_EV_KIND_COUNT,
};

/* Value slots of an event. Entry fields land in 0..3, exit fields in 4..7; what a slot means
 * is fixed here so that the profile, the BPF program and the decoder cannot disagree. */
enum dwcp_slot {
  DWCP_SLOT_ID = 0,           /* entry: stream id, block id */
  DWCP_SLOT_BYTES = 1,        /* entry: input length (chunk, data, memory) */
  DWCP_SLOT_COUNT = 2,        /* entry: element count (map len, slice len), expected size */
  DWCP_SLOT_ENTRY_AUX = 3,    /* entry: spare; AMST probes: the session (DWCP_SLOT_SESSION) */
  DWCP_SLOT_ERR = 4,          /* exit: non-zero when the error result is non-nil */
  DWCP_SLOT_RESULT_BYTES = 5, /* exit: result length / compressed size */
  DWCP_SLOT_RESULT_AUX = 6,   /* exit: original size reported by the callee, pruned count */
  DWCP_SLOT_RESULT_FLAG = 7,  /* exit: boolean result field (EncodedData.IsDelta) */
  DWCP_SLOT_COUNT_ALL = 8,
};
/* AMST probes put their receiver, the *MultiStreamTCP session pointer, in the entry spare slot
 * (profile: `"session": "receiver"`): the identity that keys streams, durations and closes.
 * DeltaEncoder probes put theirs (*DeltaEncoder) in the same slot (`"object": "receiver"`): the
 * object whose own totals the agent reads. */
#define DWCP_SLOT_SESSION DWCP_SLOT_ENTRY_AUX
#define DWCP_SLOT_OBJECT DWCP_SLOT_ENTRY_AUX
/* What a DWCP_EV_STREAM_FINAL event holds, by slot: */
#define DWCP_SLOT_FINAL_STREAM_ID DWCP_SLOT_ID /* StreamConn.streamID */
#define DWCP_SLOT_FINAL_SENT DWCP_SLOT_BYTES   /* StreamConn.bytesSent */
#define DWCP_SLOT_FINAL_RECV DWCP_SLOT_COUNT   /* StreamConn.bytesRecv */
/* DWCP_SLOT_SESSION: the session; slot 4: the *StreamConn; slot 5: its index in the table;
 * slot 6: the table's length as saved (more than DWCP_MAX_SESSION_STREAMS: the rest not sent);
 * slot 7: the table's array pointer as saved (the agent reads the rest through it). */
#define DWCP_SLOT_FINAL_STREAM_PTR 4
#define DWCP_SLOT_FINAL_INDEX 5
#define DWCP_SLOT_FINAL_TABLE_LEN 6
#define DWCP_SLOT_FINAL_TABLE_PTR 7
#define DWCP_STR_NAME 0 /* string slot: vm id, state key, source cluster, baseline id */
#define DWCP_STR_PEER 1 /* string slot: target host, remote cluster */
#define DWCP_STR_SLOTS 2

/* Where a value lives when the probe fires. */
enum dwcp_loc_base {
  DWCP_LOC_NONE = 0,
  DWCP_LOC_REG = 1,   /* a register: index in assignment order (dwcp_go_reg) */
  DWCP_LOC_STACK = 2, /* user stack: *(SP + stack_off) */
};

/* Go ABIInternal integer argument/result registers, by their index in the architecture's
 * assignment order (Go src/cmd/compile/abi-internal.md): index i is the i-th integer register
 * the ABI assigns. amd64: RAX RBX RCX RDI RSI R8 R9 R10 R11 (0..8); arm64: R0..R15 (0..15).
 * The profile computes the indices from the same "params" on either architecture; the BPF
 * program reads index i from its own architecture's register (uprobe_handler.bpf.h). */
enum dwcp_go_reg {
  DWCP_REG_COUNT_AMD64 = 9,
  DWCP_REG_COUNT_ARM64 = 16,
  DWCP_REG_COUNT = 16, /* the most any architecture has */
};

/* base value (register or stack word), then `nderef` hops: v = *(v + deref[i]) (8-byte reads),
 * the last hop reading `width` bytes (1, 2, 4 or 8). With nderef == 0, width truncates the base. */
struct dwcp_loc {
  __u8 base; /* enum dwcp_loc_base */
  __u8 reg;  /* register index (dwcp_go_reg), for DWCP_LOC_REG */
  __u8 nderef;
  __u8 width;
  __s32 stack_off;
  __s32 deref[DWCP_MAX_DEREF];
  __u32 _pad;
};

enum dwcp_field_type {
  DWCP_FIELD_INT = 0,    /* slot = value(loc) + add */
  DWCP_FIELD_NONNIL = 1, /* slot = value(loc) != 0 (an error/interface type word) */
  DWCP_FIELD_STRING = 2, /* str[slot] = bytes at value(loc), length value(len_loc) */
};

struct dwcp_field {
  __u8 type; /* enum dwcp_field_type */
  __u8 slot; /* enum dwcp_slot, or string slot for DWCP_FIELD_STRING */
  __u8 _pad[2];
  __s32 add;
  struct dwcp_loc loc;
  struct dwcp_loc len_loc; /* strings only */
};

enum dwcp_phase {
  DWCP_PHASE_ENTRY_ONLY = 0, /* emit at entry */
  DWCP_PHASE_ENTRY = 1,      /* keep until the matching exit */
  DWCP_PHASE_EXIT = 2,       /* a RET site: pair with the entry, emit */
};

struct dwcp_probe_spec {
  __u16 kind;     /* enum dwcp_event_kind */
  __u16 probe_id; /* function index in the profile, < DWCP_MAX_PROBES */
  __u8 phase;     /* enum dwcp_phase */
  __u8 nfields;
  __u8 _pad[2];
  struct dwcp_field fields[DWCP_MAX_FIELDS];
};

enum dwcp_event_flags {
  DWCP_EVF_PAIRED = 1,      /* entry and exit values present, duration valid */
  DWCP_EVF_READ_FAILED = 2, /* a field could not be read; its slot is 0 */
  DWCP_EVF_STR_TRUNC = 4,   /* a string was longer than DWCP_STR_LEN */
};

struct dwcp_event {
  __u64 ts_ns;       /* bpf_ktime_get_ns at exit (or entry for entry-only probes) */
  __u64 duration_ns; /* exit - entry, for paired events */
  __u64 goroutine;   /* g pointer (amd64 R14, arm64 R28): the pairing key */
  __u32 tgid;
  __u16 kind;
  __u16 probe_id;
  __u32 flags;
  __u32 _pad;
  __s64 val[DWCP_SLOT_COUNT_ALL];
  char str[DWCP_STR_SLOTS][DWCP_STR_LEN];
};

/* Key and value of the in-flight map that pairs an entry with its exit. */
struct dwcp_inflight_key {
  __u64 goroutine;
  __u32 tgid;
  __u32 probe_id;
};

/* Kernels without BPF cookies (before 5.15): the spec index of a uprobe site, keyed by process
 * and the site's virtual address in that process (agent/kernel_features.h). */
#define DWCP_MAX_SITES_PER_TARGET 1024
struct dwcp_spec_addr_key {
  __u32 tgid;
  __u32 _pad;
  __u64 addr;
};

/* A listening TCP socket of a target: network namespace inode and local port (host order). */
struct dwcp_listen_key {
  __u32 netns;
  __u16 port;
  __u16 _pad;
};

/* Why an event or a count was lost; counted per probe in BPF (per-CPU array indexed
 * probe_id * DWCP_DROP_COUNT + reason) and exported as dwcp_observer_events_lost_total. */
enum dwcp_drop_reason {
  DWCP_DROP_RINGBUF_FULL = 0,
  DWCP_DROP_MAP_FULL = 1,       /* an update failed (the maps are LRU: evictions show as UNMATCHED_EXIT) */
  DWCP_DROP_READ_FAILED = 2,    /* bpf_probe_read_user failed on a field */
  DWCP_DROP_UNMATCHED_EXIT = 3, /* a RET hit without a recorded entry */
  DWCP_DROP_SCRATCH_FULL = 4,   /* a uprobe hit while every scratch slot of its CPU was taken (nesting) */
  DWCP_DROP_COUNT = 5,
};
/* Socket-side losses use this pseudo probe id. */
#define DWCP_PROBE_ID_SOCKET (DWCP_MAX_PROBES - 1)

/* Kernel-side socket counters of one target, aggregated in BPF (per-CPU hash keyed by tgid)
 * and read at scrape time: these change on every send and never cross the ring buffer. */
struct dwcp_sock_stats {
  __u64 bytes_sent;         /* sock:sock_send_length, TCP, ret > 0 */
  __u64 bytes_received;     /* sock:sock_recv_length, TCP, ret > 0, not MSG_PEEK */
  __u64 send_calls;         /* every TCP send of the target, also failed ones */
  __u64 recv_calls;         /* every TCP receive, MSG_PEEK excepted */
  __u64 retransmits;        /* tcp:tcp_retransmit_skb on a socket of the target */
  __u64 resets_sent;        /* tcp:tcp_send_reset */
  __u64 resets_received;    /* tcp:tcp_receive_reset */
  __u64 connections_opened; /* ESTABLISHED, charged to the socket's owner (dialer or listener) */
  __u64 connections_closed; /* inet_sock_set_state ESTABLISHED/CLOSE_WAIT... -> CLOSE */
  __u64 srtt_us_sum;        /* tcp:tcp_probe smoothed RTT samples */
  __u64 srtt_samples;
};

/* Bytes of one TCP socket of a target, keyed by the socket's inode number (the N of the
 * "socket:[N]" link in /proc/PID/fd), in the LRU hash `socket_bytes`: counted with the target's
 * sock_stats figures, so that the agent can compare the kernel's count on AMST streams' own
 * sockets with DWCP's per-stream counters (agent/stream_sockets.h). Updated atomically. */
#define DWCP_MAX_TRACKED_SOCKETS 16384
struct dwcp_socket_bytes {
  __u64 sent;     /* as dwcp_sock_stats.bytes_sent, on this socket */
  __u64 received; /* as dwcp_sock_stats.bytes_received, on this socket */
};

/* Where a session's stream table lives (from the profile's "types": MultiStreamTCP.streams, a
 * []*StreamConn, and StreamConn's streamID/bytesSent/bytesRecv), stored by the agent in the
 * one-entry `stream_layout` map. enabled == 0: the BPF program emits no STREAM_FINAL events.
 * The session pointer comes from the session_close (or adjust_streams) probe's DWCP_SLOT_SESSION
 * entry field. DWCP's Close sets `m.streams = nil` and AdjustStreams cuts the slice before they
 * return: the slice's array pointer and length are saved at the entry and read at the RET (the
 * array itself and the streams it points to are still alive then). */
#define DWCP_MAX_SESSION_STREAMS 64
struct dwcp_stream_layout {
  __u32 enabled;
  __u32 max_streams;   /* <= DWCP_MAX_SESSION_STREAMS */
  __s32 streams_off;   /* MultiStreamTCP.streams: slice (ptr, len, cap) */
  __s32 stream_id_off; /* StreamConn.streamID (int) */
  __s32 sent_off;      /* StreamConn.bytesSent (uint64) */
  __s32 recv_off;      /* StreamConn.bytesRecv (uint64) */
};

/* Process starts and ends, from sched:sched_process_exec and sched:sched_process_exit, in the
 * ring buffer `proc_events` (apart from `events`: these wake the agent at once, and a flood of
 * probe events cannot delay them). Every exec on the node is sent (discovery judges it at once);
 * an exit only for an observed process (a tgid in `sock_stats`), when its last thread ends. */
enum dwcp_proc_event_kind {
  DWCP_PROC_EXEC = 1,
  DWCP_PROC_EXIT = 2,
};
struct dwcp_proc_event {
  __u32 tgid;
  __u32 kind; /* enum dwcp_proc_event_kind */
};

#ifndef __bpf__
#ifdef __cplusplus
static_assert(sizeof(struct dwcp_proc_event) == 8, "dwcp_proc_event layout");
static_assert(sizeof(struct dwcp_stream_layout) == 24, "dwcp_stream_layout layout");
static_assert(sizeof(struct dwcp_loc) == 24, "dwcp_loc layout");
static_assert(sizeof(struct dwcp_field) == 56, "dwcp_field layout");
static_assert(sizeof(struct dwcp_probe_spec) == 8 + 4 * 56, "dwcp_probe_spec layout");
static_assert(sizeof(struct dwcp_event) == 40 + 8 * 8 + 2 * 48, "dwcp_event layout");
static_assert(sizeof(struct dwcp_inflight_key) == 16, "dwcp_inflight_key layout");
static_assert(sizeof(struct dwcp_sock_stats) == 11 * 8, "dwcp_sock_stats layout");
static_assert(sizeof(struct dwcp_spec_addr_key) == 16, "dwcp_spec_addr_key layout");
static_assert(sizeof(struct dwcp_listen_key) == 8, "dwcp_listen_key layout");
static_assert(sizeof(struct dwcp_socket_bytes) == 16, "dwcp_socket_bytes layout");
#endif
#endif

#endif /* DWCP_OBSERVER_EVENTS_H */
