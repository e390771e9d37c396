#include "agent/stream_sockets.h"
#include "dwcp_observer/text.h"
#include "model/observer_families.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "agent/bpf_session.h"

namespace dwcp::agent {
namespace {

constexpr std::uint64_t kUserTop = std::uint64_t{1} << 47;  // amd64 user addresses end below
// A process's fds are below its RLIMIT_NOFILE; the kernel's hard ceiling (fs.nr_open) is 2^30.
constexpr std::int64_t kMaxFd = std::int64_t{1} << 30;

bool plausible_pointer(std::uint64_t p) { return p != 0 && p % 8 == 0 && p < kUserTop; }

// One pointer-sized word at `address`.
Result<std::uint64_t> read_word(MemoryReader& memory, std::uint64_t address) {
  std::uint64_t word = 0;
  if (Result<void> read = memory.read({{address, &word, sizeof word}}); !read) return read.failure();
  return word;
}

// Non-negative growth from `base` to `now` as a signed figure.
std::int64_t growth(std::uint64_t base, std::uint64_t now) {
  return now >= base ? static_cast<std::int64_t>(now - base) : 0;
}

}  // namespace

Result<std::optional<int>> stream_socket_fd(MemoryReader& memory, std::uint64_t stream, const SocketPath& path) {
  if (!plausible_pointer(stream)) return Error{"stream pointer " + hex(stream) + " is not a user address"};
  const Result<std::uint64_t> conn = read_word(memory, stream + path.stream_conn);
  if (!conn) return conn.failure();
  return conn_socket_fd(memory, *conn, path);
}

Result<std::optional<int>> conn_socket_fd(MemoryReader& memory, std::uint64_t conn, const SocketPath& path) {
  if (conn == 0) return {std::nullopt};  // closed, or between a reconnect's two connections: no socket, no error
  if (!plausible_pointer(conn))
    return Error{"StreamConn.conn " + hex(conn) + " is not a pointer: wrong layout, or the stream was freed"};
  const Result<std::uint64_t> netfd = read_word(memory, conn + path.conn_fd);
  if (!netfd) return netfd.failure();
  if (!plausible_pointer(*netfd))
    return Error{"net.TCPConn.fd " + hex(*netfd) + " is not a pointer: not a *net.TCPConn, or freed"};
  const Result<std::uint64_t> sysfd = read_word(memory, *netfd + path.netfd_sysfd);
  if (!sysfd) return sysfd.failure();
  const auto fd = static_cast<std::int64_t>(*sysfd);
  if (fd == -1) return {std::nullopt};  // poll.FD closed it
  if (fd < 0 || fd >= kMaxFd)
    return Error{"poll.FD.Sysfd " + std::to_string(fd) + " is no fd: not a *net.TCPConn, or freed"};
  return {static_cast<int>(fd)};
}

std::optional<std::uint64_t> parse_socket_link(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link.size() < kPrefix.size() + 2 || link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']')
    return std::nullopt;
  const std::string_view digits = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
  std::uint64_t inode = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
  if (ec != std::errc() || end != digits.data() + digits.size() || inode == 0) return std::nullopt;
  return inode;
}

Result<std::uint64_t> socket_inode(int pid, int fd) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  char link[64];
  const ssize_t n = readlink(path.c_str(), link, sizeof link);
  if (n < 0) return Error::system("readlink " + path);
  if (static_cast<std::size_t>(n) == sizeof link) return Error{path + " is no socket (a long link)"};
  const std::string_view target(link, static_cast<std::size_t>(n));
  if (auto inode = parse_socket_link(target)) return *inode;
  return Error{path + " is no socket (" + std::string(target) + ")"};
}

bool BpfSocketCounters::bytes(std::uint64_t inode, dwcp_socket_bytes* out) { return bpf_.socket_bytes(inode, out); }

void BpfSocketCounters::forget(std::uint64_t inode) { bpf_.forget_socket(inode); }

ConsistencyLedger::ConsistencyLedger(SocketCounters& kernel, std::size_t max_streams)
    : kernel_(kernel), max_streams_(max_streams) {}

void ConsistencyLedger::look(std::uint64_t inode, Socket& socket) {
  dwcp_socket_bytes now{};
  if (!kernel_.bytes(inode, &now)) return;
  // Counters only grow; a smaller figure is an entry that aged out of the LRU map and came back.
  socket.sent = std::max<std::uint64_t>(socket.sent, now.sent);
  socket.received = std::max<std::uint64_t>(socket.received, now.received);
}

void ConsistencyLedger::snapshot(Stream& stream) {
  for (auto& [inode, socket] : stream.sockets) {
    look(inode, socket);
    socket.at_sent = socket.sent;
    socket.at_received = socket.received;
  }
}

bool ConsistencyLedger::wants_conn(const StreamRead& read) const {
  auto it = streams_.find(read.stream);
  if (it == streams_.end()) return streams_.size() < max_streams_;
  const Stream& s = it->second;
  return s.id != read.id || s.session != read.session || s.pending ||
         (s.open && (read.sent > s.last_sent || read.received > s.last_received));
}

bool ConsistencyLedger::wants_socket(const StreamRead& read) const {
  if (!read.conn || *read.conn == 0) return false;
  auto it = streams_.find(read.stream);
  if (it == streams_.end()) return streams_.size() < max_streams_;
  const Stream& s = it->second;
  return s.id != read.id || s.session != read.session || (s.pending && s.pending_conn != *read.conn) ||
         (s.open && s.conn != *read.conn);
}

dwcp_socket_bytes ConsistencyLedger::kernel_now(std::uint64_t inode) {
  dwcp_socket_bytes now{};
  if (!kernel_.bytes(inode, &now)) now = {};
  return now;
}

void ConsistencyLedger::open_window(Stream& stream, const StreamRead& read, bool from_zero,
                                    const dwcp_socket_bytes& kernel) {
  stream.window = stream.open = true;
  stream.pending = false;
  stream.conn = *read.conn;
  stream.reconnects = read.reconnects;
  stream.connections = 1;
  stream.base_sent = from_zero ? 0 : read.sent;
  stream.base_received = from_zero ? 0 : read.received;
  stream.sent = read.sent;
  stream.received = read.received;
  Socket socket;
  if (!from_zero) {
    socket.base_sent = socket.sent = kernel.sent;
    socket.base_received = socket.received = kernel.received;
  }
  stream.sockets.emplace(read.inode, socket);
  owner_[read.inode] = read.stream;
  snapshot(stream);
  ++checked_;
}

void ConsistencyLedger::wait_until_still(Stream& s, const StreamRead& read, bool moved) {
  if (read.conn && *read.conn == s.pending_conn) {
    const dwcp_socket_bytes now = kernel_now(s.pending_inode);
    const bool still = !moved && now.sent == s.pending_kernel.sent && now.received == s.pending_kernel.received;
    s.pending_kernel = now;
    if (still) {
      StreamRead at = read;
      at.inode = s.pending_inode;
      at.sent = s.last_sent;
      at.received = s.last_received;
      open_window(s, at, false, now);
    }
  } else if (read.conn && *read.conn != 0 && read.inode != 0) {
    // Reconnected while waiting: wait on the new socket.
    s.pending_conn = *read.conn;
    s.pending_inode = read.inode;
    s.pending_kernel = kernel_now(read.inode);
  } else if (read.conn) {
    s.pending = false;  // on a connection the agent cannot see: it stays unverified
  }
}

void ConsistencyLedger::observe(StreamRead read) {
  // A socket belongs to one stream: a stale fd read (closed, its number reused by another
  // stream's socket) must not count that socket twice.
  if (read.inode != 0) {
    auto owner = owner_.find(read.inode);
    if (owner != owner_.end() && owner->second != read.stream) read.inode = 0;
  }
  auto it = streams_.find(read.stream);
  // Another object at a freed stream's address, or a stream that reconnected more often than is
  // kept: what it counted so far is settled and it starts afresh from this read.
  if (it != streams_.end() && (it->second.id != read.id || it->second.session != read.session ||
                               (read.inode != 0 && !it->second.sockets.count(read.inode) &&
                                it->second.sockets.size() >= kMaxSocketsPerStream))) {
    settle(it);
    it = streams_.end();
  }
  if (it == streams_.end()) {
    if (streams_.size() >= max_streams_) return;
    Stream fresh;
    fresh.session = read.session;
    fresh.id = read.id;
    fresh.last_sent = read.sent;
    fresh.last_received = read.received;
    if (read.conn && *read.conn != 0 && read.inode != 0) {
      // Counters that began while watched (and a first socket: no reconnect yet), or that hold
      // nothing yet: every byte the kernel counted on the socket is one DWCP counts, so both
      // sides start at 0 and no chunk in flight at this read can skew the baseline.
      if ((read.sent == 0 && read.received == 0) || (read.born_watched && read.reconnects && *read.reconnects == 0)) {
        open_window(fresh, read, true, {});
      } else {
        fresh.pending = true;
        fresh.pending_conn = *read.conn;
        fresh.pending_inode = read.inode;
        fresh.pending_kernel = kernel_now(read.inode);
      }
    }
    // What DWCP counted before the window's baseline (everything, without a window).
    fresh.unverified_sent = fresh.window ? fresh.base_sent : read.sent;
    fresh.unverified_received = fresh.window ? fresh.base_received : read.received;
    streams_.emplace(read.stream, std::move(fresh));
    return;
  }
  Stream& s = it->second;
  // A read that raced a later one (the final figures at Close) may be older: figures only grow.
  const std::uint64_t sent = std::max(s.last_sent, read.sent), received = std::max(s.last_received, read.received);
  const bool moved = sent != s.last_sent || received != s.last_received;
  if (s.open && moved) {
    // DWCP counts a successful reconnect just after it replaced the connection: more reconnects
    // than connections seen means one came and went between two reads (even if its address was
    // reused by the next), and the bytes it carried are nowhere in the window's sockets.
    const bool skipped = read.reconnects && s.reconnects && *read.reconnects - *s.reconnects > s.connections - 1;
    const bool same = read.conn && *read.conn == s.conn;
    const bool found = read.conn && *read.conn != 0 && read.inode != 0;
    if (!skipped && (same || found)) {
      if (!same) {
        // A reconnect's socket, born after the last read: all its bytes count.
        if (s.sockets.emplace(read.inode, Socket{}).second) owner_[read.inode] = read.stream;
        s.conn = *read.conn;
        ++s.connections;
      }
      s.sent = sent;
      s.received = received;
      snapshot(s);
    } else {
      // The stream moved to a connection the agent cannot see: compared up to its last verified read.
      s.open = false;
    }
  }
  if (!s.window) {
    s.unverified_sent += sent - s.last_sent;
    s.unverified_received += received - s.last_received;
    s.last_sent = sent;
    s.last_received = received;
    if (s.pending) wait_until_still(s, read, moved);
    return;
  }
  if (!s.open) {
    s.unverified_sent += sent - s.last_sent;
    s.unverified_received += received - s.last_received;
  }
  s.last_sent = sent;
  s.last_received = received;
}

ByteDifference ConsistencyLedger::of(Stream& stream) {
  ByteDifference d;
  if (!stream.window) return d;
  for (auto& [inode, socket] : stream.sockets) {
    // An open window compares the kernel's count now (chunks in flight show for a moment); a
    // closed one its count at the last verified read, with DWCP's figures of that read.
    if (stream.open) look(inode, socket);
    d.sent += growth(socket.base_sent, stream.open ? socket.sent : socket.at_sent);
    d.received += growth(socket.base_received, stream.open ? socket.received : socket.at_received);
  }
  d.sent -= growth(stream.base_sent, stream.sent);
  d.received -= growth(stream.base_received, stream.received);
  return d;
}

// Per stream, the size of the difference: streams that err both ways (a layout that swaps the
// counters, with sender and receiver in one process) must not cancel out in the sum.
ByteDifference ConsistencyLedger::magnitude(Stream& stream) {
  const ByteDifference d = of(stream);
  return {d.sent < 0 ? -d.sent : d.sent, d.received < 0 ? -d.received : d.received};
}

void ConsistencyLedger::settle(std::map<std::uint64_t, Stream>::iterator it) {
  const ByteDifference d = magnitude(it->second);
  settled_.sent += d.sent;
  settled_.received += d.received;
  settled_unverified_.sent += static_cast<std::int64_t>(it->second.unverified_sent);
  settled_unverified_.received += static_cast<std::int64_t>(it->second.unverified_received);
  for (const auto& [inode, socket] : it->second.sockets) {
    owner_.erase(inode);
    kernel_.forget(inode);
  }
  streams_.erase(it);
}

void ConsistencyLedger::session_closed(std::uint64_t session) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    auto next = std::next(it);
    if (it->second.session == session) settle(it);
    it = next;
  }
}

ByteDifference ConsistencyLedger::difference() {
  ByteDifference total = settled_;
  for (auto& [ptr, stream] : streams_) {
    const ByteDifference d = magnitude(stream);
    total.sent += d.sent;
    total.received += d.received;
  }
  return total;
}

ByteDifference ConsistencyLedger::unverified() const {
  ByteDifference total = settled_unverified_;
  for (const auto& [ptr, stream] : streams_) {
    total.sent += static_cast<std::int64_t>(stream.unverified_sent);
    total.received += static_cast<std::int64_t>(stream.unverified_received);
  }
  return total;
}

ConsistencyMetrics::ConsistencyMetrics(prometheus::Registry& registry) {
  using observer_families::Id;
  bytes_ = &observer_families::build_gauge(Id::kConsistencyBytes, registry);
  checked_ = &observer_families::build_counter(Id::kConsistencyStreamsChecked, registry);
  unverified_ = &observer_families::build_counter(Id::kConsistencyUnverifiedBytes, registry);
}

ConsistencyMetrics::ForTarget ConsistencyMetrics::target(std::uint32_t pid) {
  const std::string p = std::to_string(pid);
  return {&bytes_->Add({{"pid", p}, {"direction", "sent"}}), &bytes_->Add({{"pid", p}, {"direction", "received"}}),
          &checked_->Add({{"pid", p}}), &unverified_->Add({{"pid", p}, {"direction", "sent"}}),
          &unverified_->Add({{"pid", p}, {"direction", "received"}})};
}

StreamConsistency::StreamConsistency(int pid, std::unique_ptr<MemoryReader> memory,
                                     std::unique_ptr<SocketCounters> kernel, ConsistencyMetrics::ForTarget metrics,
                                     log::Logger log)
    : pid_(pid),
      memory_(std::move(memory)),
      kernel_(std::move(kernel)),
      ledger_(*kernel_),
      metrics_(metrics),
      log_(std::move(log)) {}

void StreamConsistency::stream_read(std::uint64_t session, const StreamFigures& figures, bool born_watched) {
  StreamRead read;
  read.session = session;
  read.stream = figures.ptr;
  read.id = figures.id;
  read.sent = figures.sent;
  read.received = figures.received;
  read.reconnects = figures.reconnects;
  read.born_watched = born_watched;
  std::string why;  // empty: nothing went wrong (a closed stream has no socket, and that is no error)
  if (ledger_.wants_conn(read)) {
    // Read after the figures: a connection replaced in between is one the figures may predate,
    // which at worst ends the stream's window (bytes unverified), never a false difference.
    if (plausible_pointer(read.stream)) {
      const Result<std::uint64_t> conn = read_word(*memory_, read.stream + SocketPath{}.stream_conn);
      if (conn)
        read.conn = *conn;
      else
        why = conn.error();
    }
  }
  if (why.empty() && ledger_.wants_socket(read)) {
    const Result<std::optional<int>> fd = conn_socket_fd(*memory_, *read.conn);
    if (!fd) {
      why = fd.error();
    } else if (*fd) {
      const Result<std::uint64_t> inode = socket_inode(pid_, **fd);
      // The fd still the connection's after the lookup: not closed and its number reused meanwhile.
      if (!inode) {
        why = inode.error();
      } else if (const Result<std::optional<int>> again = conn_socket_fd(*memory_, *read.conn);
                 again && *again == *fd) {
        read.inode = *inode;
      }
    }
  }
  // Anything else than a closed stream is worth saying once per target.
  if (!why.empty() && !logged_) {
    log_.warn("cannot find the socket of an AMST stream (" + why + "): its bytes are not checked against the kernel");
    logged_ = true;
  }
  ledger_.observe(read);
}

void StreamConsistency::session_closed(std::uint64_t session) { ledger_.session_closed(session); }

void StreamConsistency::publish() {
  const ByteDifference d = ledger_.difference();
  metrics_.sent->Set(static_cast<double>(d.sent));
  metrics_.received->Set(static_cast<double>(d.received));
  metrics_.checked->Increment(static_cast<double>(ledger_.checked() - published_checked_));
  published_checked_ = ledger_.checked();
  const ByteDifference u = ledger_.unverified();
  metrics_.unverified_sent->Increment(static_cast<double>(u.sent - published_unverified_.sent));
  metrics_.unverified_received->Increment(static_cast<double>(u.received - published_unverified_.received));
  published_unverified_ = u;
}

}  // namespace dwcp::agent
