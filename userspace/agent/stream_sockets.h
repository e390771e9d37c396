// The agent checks itself against the kernel. DWCP counts each AMST stream's bytes itself
// (StreamConn.bytesSent / bytesRecv, read by agent/stream_reader.h); the BPF socket programs count
// the same bytes per socket (events.h, dwcp_socket_bytes, by socket inode). Per target, the sum over
// streams of (kernel bytes on the stream's own sockets - DWCP's count) must stay within the bytes in
// flight: a chunk is counted by the kernel as it is written or read, by DWCP just after. A lasting
// difference means a layout or a semantic the agent got wrong (a DWCP release that moved a field,
// figures lost at Close), and is exported as dwcp_observer_consistency_bytes{direction} (the sum of
// each stream's |difference|, so that errors of opposite sign cannot cancel). Only bytes the agent
// can attribute to a socket it knows are compared; DWCP's bytes it cannot (before it first found a
// stream's socket, or on a connection that came and went between two reads) are exported apart as
// dwcp_observer_consistency_unverified_bytes_total{direction}, never as a difference.
//
// The way from a stream to its socket: StreamConn.conn (*net.TCPConn) -> net.conn.fd (*netFD) ->
// netFD.pfd (poll.FD) -> FD.Sysfd (int) in the target's memory, then /proc/PID/fd/N -> "socket:[INODE]".
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/stream_reader.h"
#include "dwcp_observer/events.h"
#include "dwcp_observer/result.h"
#include "log/log.h"

namespace dwcp::agent {

class BpfSession;

// Offsets of the way from a *StreamConn to its fd, amd64. StreamConn.conn is DWCP's (catalogue §5,
// @0); the rest is Go's net and internal/poll packages, the same in Go 1.19, 1.24, 1.26 and 1.27
// (checked by reflection: TCPConn{conn{fd *netFD @0}}, netFD{pfd poll.FD @0},
// FD{fdmu fdMutex (16 bytes); Sysfd int @16}).
struct SocketPath {
  std::int32_t stream_conn = 0;   // StreamConn.conn: *net.TCPConn (nil once the stream is closed)
  std::int32_t conn_fd = 0;       // net.TCPConn -> net.conn.fd: *net.netFD
  std::int32_t netfd_sysfd = 16;  // netFD.pfd (poll.FD) .Sysfd: int (-1 once closed)
};

// The fd a stream's connection holds; nullopt when there is none (a nil conn: closed, or being
// replaced). An error when what was read is implausible (every pointer and the fd range are
// checked before use: the target is untrusted) or cannot be read.
Result<std::optional<int>> stream_socket_fd(MemoryReader& memory, std::uint64_t stream, const SocketPath& path = {});

// The same from a *net.TCPConn already read (StreamConn.conn).
Result<std::optional<int>> conn_socket_fd(MemoryReader& memory, std::uint64_t conn, const SocketPath& path = {});

// "socket:[12345]" -> 12345; nullopt for anything else (a pipe, a file, garbage).
std::optional<std::uint64_t> parse_socket_link(std::string_view link);

// The inode of the socket behind /proc/PID/fd/FD; an error when that fd is gone or is no socket.
Result<std::uint64_t> socket_inode(int pid, int fd);

// The kernel's bytes per socket: the BPF map in the agent, a fake in tests.
class SocketCounters {
 public:
  virtual ~SocketCounters() = default;
  // false: nothing counted on that socket since the target was added.
  virtual bool bytes(std::uint64_t inode, dwcp_socket_bytes* out) = 0;
  // The socket closed and its figures are settled: its entry may go.
  virtual void forget(std::uint64_t inode) = 0;
};

class BpfSocketCounters : public SocketCounters {
 public:
  explicit BpfSocketCounters(BpfSession& bpf) : bpf_(bpf) {}
  bool bytes(std::uint64_t inode, dwcp_socket_bytes* out) override;
  void forget(std::uint64_t inode) override;

 private:
  BpfSession& bpf_;
};

// Kernel bytes minus DWCP's bytes, per direction: per stream signed (negative: DWCP counted more
// than the wire carried), summed over streams as magnitudes.
struct ByteDifference {
  std::int64_t sent = 0;
  std::int64_t received = 0;
};

// One read of a stream as the ledger takes it: DWCP's figures, and which connection the stream held.
struct StreamRead {
  std::uint64_t session = 0;
  std::uint64_t stream = 0;  // the *StreamConn
  std::int64_t id = 0;
  std::uint64_t sent = 0, received = 0;    // StreamConn.bytesSent / bytesRecv
  std::optional<std::uint64_t> conn;       // StreamConn.conn (*net.TCPConn) just after; nullopt: not read
  std::optional<std::int32_t> reconnects;  // StreamConn.reconnects with the figures, where the layout has it
  std::uint64_t inode = 0;                 // the socket behind conn; 0: not looked up, or none (closed)
  bool born_watched = false;               // created while the agent watched the target (its counters began at 0)
};

// Per stream, DWCP's growth compared with the kernel's growth on the stream's own sockets, over the
// reads in which the agent knew which socket the stream held: a "window" that opens at the first
// read that finds the stream's socket and lasts while every later read shows the same connection
// (StreamConn.conn) or a new one whose socket the agent finds (a reconnect's: born after the last
// read, so all its bytes count); a stream whose counters began before the agent watched opens it at
// the first read that finds it still (no chunk in flight). A connection that changed unseen (its socket closed before
// the agent could look it up, or DWCP's reconnect count says one was skipped) ends the window: from the stream's last
// read whose figures moved, DWCP's growth is *unverified*, never a difference. So is what a stream counted before its
// window opened (bytes of before the attach, or a stream never found open). Baselines: 0 on both sides for a stream
// whose counters began while watched (born watched, no reconnect yet; or nothing counted yet): the kernel counted all
// its bytes; otherwise DWCP's figures and the kernel's count at that still read. The figure is the sum over streams of
// each stream's |difference|. Closed sessions' streams are settled into running sums and forgotten. Pure: the kernel is
// reached through SocketCounters.
class ConsistencyLedger {
 public:
  static constexpr std::size_t kMaxStreams = 16384;
  static constexpr std::size_t kMaxSocketsPerStream = 64;

  explicit ConsistencyLedger(SocketCounters& kernel, std::size_t max_streams = kMaxStreams);

  // Whether this read needs the stream's connection (StreamRead.conn): a stream not yet known, or
  // one whose window is open and whose figures moved (the growth must be attributed).
  bool wants_conn(const StreamRead& read) const;
  // Whether the socket behind read.conn should be looked up (StreamRead.inode): a new stream, or an
  // open window whose connection changed.
  bool wants_socket(const StreamRead& read) const;
  void observe(StreamRead read);
  // Close returned: the session's sockets are closed and their counts final. Settled and forgotten.
  void session_closed(std::uint64_t session);
  // Settled sessions plus every stream still tracked, kernel read now.
  ByteDifference difference();
  // DWCP's bytes not compared with the kernel, settled and tracked (only grows).
  ByteDifference unverified() const;
  std::size_t streams() const { return streams_.size(); }
  // Streams whose window opened so far (each found with its socket once).
  std::uint64_t checked() const { return checked_; }

 private:
  struct Socket {
    std::uint64_t base_sent = 0, base_received = 0;  // the kernel's count as the window took it in
    std::uint64_t sent = 0, received = 0;            // the kernel's count at the last look
    std::uint64_t at_sent = 0, at_received = 0;      // ... at the stream's last verified read
  };
  struct Stream {
    std::uint64_t session = 0;
    std::int64_t id = 0;
    std::uint64_t last_sent = 0, last_received = 0;  // DWCP's figures at the last read
    std::uint64_t unverified_sent = 0, unverified_received = 0;
    bool window = false;  // a window opened (sockets, baselines and verified figures hold)
    bool open = false;    // ... and still lasts
    // A stream found mid-flight (counters that began before the agent watched) waits for a read
    // at which neither DWCP's figures nor the kernel's count on its socket moved since the last:
    // no chunk in flight, so that both baselines describe the same bytes.
    bool pending = false;
    std::uint64_t pending_conn = 0, pending_inode = 0;
    dwcp_socket_bytes pending_kernel{};
    std::uint64_t conn = 0;                          // the connection of the window's current socket
    std::optional<std::int32_t> reconnects;          // DWCP's reconnect count as the window opened
    std::int32_t connections = 0;                    // connections the window saw
    std::uint64_t base_sent = 0, base_received = 0;  // DWCP's figures as the window opened
    std::uint64_t sent = 0, received = 0;            // DWCP's figures at the last verified read
    std::map<std::uint64_t, Socket> sockets;         // by inode
  };
  void look(std::uint64_t inode, Socket& socket);
  // Takes the kernel's counts as those of the stream's last verified read.
  void snapshot(Stream& stream);
  // from_zero: both baselines 0; else DWCP's figures of the read and the kernel's count `kernel`.
  void open_window(Stream& stream, const StreamRead& read, bool from_zero, const dwcp_socket_bytes& kernel);
  // The kernel's count on a socket now (zeros when it counted nothing yet).
  dwcp_socket_bytes kernel_now(std::uint64_t inode);
  // A mid-flight stream's read: opens its window once it is still, follows a new connection.
  void wait_until_still(Stream& stream, const StreamRead& read, bool moved);
  ByteDifference of(Stream& stream);
  ByteDifference magnitude(Stream& stream);
  // Adds a stream's difference and unverified bytes to the settled sums and forgets it and its sockets.
  void settle(std::map<std::uint64_t, Stream>::iterator it);

  SocketCounters& kernel_;
  std::size_t max_streams_;
  std::map<std::uint64_t, Stream> streams_;       // by *StreamConn
  std::map<std::uint64_t, std::uint64_t> owner_;  // socket inode -> the stream that holds it
  ByteDifference settled_;
  ByteDifference settled_unverified_;
  std::uint64_t checked_ = 0;
};

// dwcp_observer_consistency_* families, per target pid.
class ConsistencyMetrics {
 public:
  explicit ConsistencyMetrics(prometheus::Registry& registry);
  struct ForTarget {
    prometheus::Gauge* sent;
    prometheus::Gauge* received;
    prometheus::Counter* checked;  // streams whose socket was found: checked against the kernel
    prometheus::Counter* unverified_sent;
    prometheus::Counter* unverified_received;
  };
  ForTarget target(std::uint32_t pid);

 private:
  prometheus::Family<prometheus::Gauge>* bytes_;
  prometheus::Family<prometheus::Counter>* checked_;
  prometheus::Family<prometheus::Counter>* unverified_;
};

// What the SessionTracker tells about one target's streams: finds each stream's socket and keeps
// the ledger. Consumer thread only.
class StreamConsistency {
 public:
  StreamConsistency(int pid, std::unique_ptr<MemoryReader> memory, std::unique_ptr<SocketCounters> kernel,
                    ConsistencyMetrics::ForTarget metrics, log::Logger log);
  // A stream's figures as the tracker read them (each read, and the final figures at Close);
  // born_watched: the stream was created while the agent watched (its session's Start was seen,
  // or it joined a table the agent had read before).
  void stream_read(std::uint64_t session, const StreamFigures& figures, bool born_watched);
  // Close returned.
  void session_closed(std::uint64_t session);
  // Sets the gauges (after each round of reads).
  void publish();

 private:
  int pid_;
  std::unique_ptr<MemoryReader> memory_;
  std::unique_ptr<SocketCounters> kernel_;
  ConsistencyLedger ledger_;
  ConsistencyMetrics::ForTarget metrics_;
  log::Logger log_;
  bool logged_ = false;
  std::uint64_t published_checked_ = 0;
  ByteDifference published_unverified_;
};

}  // namespace dwcp::agent
