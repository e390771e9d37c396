// The agent checks itself against the kernel. DWCP counts each AMST stream's bytes itself
// (StreamConn.bytesSent / bytesRecv, read by agent/stream_reader.h); the BPF socket programs count
// the same bytes per socket (events.h, dwcp_socket_bytes, by socket inode). Per target, the sum over
// streams of (kernel bytes on the stream's own sockets - DWCP's count) must stay within the bytes in
// flight: a chunk is counted by the kernel as it is written or read, by DWCP just after. A lasting
// difference means a layout or a semantic the agent got wrong (a DWCP release that moved a field,
// figures lost at Close), and is exported as dwcp_observer_consistency_bytes{direction} (the sum of
// each stream's |difference|, so that errors of opposite sign cannot cancel).
//
// The way from a stream to its socket: StreamConn.conn (*net.TCPConn) -> net.conn.fd (*netFD) ->
// netFD.pfd (poll.FD) -> FD.Sysfd (int) in the target's memory, then /proc/PID/fd/N -> "socket:[INODE]".
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/stream_reader.h"
#include "dwcp_observer/events.h"

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

// The fd a stream's connection holds. nullopt with *why when there is none (a nil conn: closed,
// or being replaced) or what was read is implausible (every pointer and the fd range are checked
// before use: the target is untrusted).
std::optional<int> stream_socket_fd(MemoryReader& memory, std::uint64_t stream, std::string* why,
                                    const SocketPath& path = {});

// "socket:[12345]" -> 12345; nullopt for anything else (a pipe, a file, garbage).
std::optional<std::uint64_t> parse_socket_link(std::string_view link);

// The inode of the socket behind /proc/PID/fd/FD; nullopt with *why when that fd is gone or is no socket.
std::optional<std::uint64_t> socket_inode(int pid, int fd, std::string* why);

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

// Per stream, the kernel's growth on every socket the stream held since the agent first saw it,
// minus the growth of DWCP's counters over the same time. Baselines are taken at a stream's first
// sighting with a socket (the agent may attach mid-flight: DWCP's counters and the socket's include
// bytes of before); a socket first seen later is a reconnect's (DWCP's counters continue across
// it), born after that sighting, so all its bytes count. The figure is the sum over streams of each
// stream's |difference|. Closed sessions' streams are settled into that running sum and forgotten.
// Pure: the kernel is reached through SocketCounters.
class ConsistencyLedger {
 public:
  static constexpr std::size_t kMaxStreams = 16384;
  static constexpr std::size_t kMaxSocketsPerStream = 64;

  explicit ConsistencyLedger(SocketCounters& kernel, std::size_t max_streams = kMaxStreams);

  // Whether a read of this stream should look up its socket: a stream not yet checked, or whose
  // figures moved (an idle stream's socket carries nothing new, so its lookup can wait).
  bool wants_socket(std::uint64_t stream, std::int64_t id, std::uint64_t sent, std::uint64_t received) const;
  // DWCP's figures of a stream as read, with the socket its connection held then (0: none known).
  void observe(std::uint64_t session, std::uint64_t stream, std::int64_t id, std::uint64_t inode, std::uint64_t sent,
               std::uint64_t received);
  // Close returned: the session's sockets are closed and their counts final. Settled and forgotten.
  void session_closed(std::uint64_t session);
  // Settled sessions plus every stream still tracked, kernel read now.
  ByteDifference difference();
  std::size_t streams() const { return streams_.size(); }
  // Streams taken into the ledger so far (each found with its socket once).
  std::uint64_t checked() const { return checked_; }

 private:
  struct Socket {
    std::uint64_t base_sent = 0, base_received = 0;  // the kernel's count when first seen
    std::uint64_t sent = 0, received = 0;            // the kernel's count at the last look
  };
  struct Stream {
    std::uint64_t session = 0;
    std::int64_t id = 0;
    std::uint64_t base_sent = 0, base_received = 0;  // DWCP's figures at the first sighting
    std::uint64_t sent = 0, received = 0;            // DWCP's figures at the last read
    std::map<std::uint64_t, Socket> sockets;         // by inode
  };
  void look(std::uint64_t inode, Socket& socket);
  ByteDifference of(Stream& stream);
  ByteDifference magnitude(Stream& stream);
  // Adds a stream's difference to the settled sum and forgets it and its sockets.
  void settle(std::map<std::uint64_t, Stream>::iterator it);

  SocketCounters& kernel_;
  std::size_t max_streams_;
  std::map<std::uint64_t, Stream> streams_;       // by *StreamConn
  std::map<std::uint64_t, std::uint64_t> owner_;  // socket inode -> the stream that holds it
  ByteDifference settled_;
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
  };
  ForTarget target(std::uint32_t pid);

 private:
  prometheus::Family<prometheus::Gauge>* bytes_;
  prometheus::Family<prometheus::Counter>* checked_;
};

// What the SessionTracker tells about one target's streams: finds each stream's socket and keeps
// the ledger. Consumer thread only.
class StreamConsistency {
 public:
  StreamConsistency(int pid, std::unique_ptr<MemoryReader> memory, std::unique_ptr<SocketCounters> kernel,
                    ConsistencyMetrics::ForTarget metrics, std::function<void(const std::string&)> log);
  // A stream's figures as the tracker read them (each read, and the final figures at Close).
  void stream_read(std::uint64_t session, std::uint64_t stream, std::int64_t id, std::uint64_t sent,
                   std::uint64_t received);
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
  std::function<void(const std::string&)> log_;
  bool logged_ = false;
  std::uint64_t published_checked_ = 0;
};

}  // namespace dwcp::agent
