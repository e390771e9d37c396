// The agent's check against the kernel (agent/stream_sockets.h): the way from a *StreamConn to its
// fd through a fake target memory, with every hostile value it may hold; the "socket:[N]" links;
// a real socket of this process; and the ledger's arithmetic over fake kernel counts: mid-flight
// attach, reconnects, closes, reused addresses and its bounds.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "agent/stream_sockets.h"
#include "word_memory.h"

namespace dwcp::agent {
namespace {

// Sparse fake memory: 8-byte words by address; a missing word is an unmapped address.
struct FakeMemory : testing::WordMemory {
  // StreamConn at `stream` -> TCPConn at `conn` -> netFD at `netfd` holding `fd` (Go's layout).
  void chain(std::uint64_t stream, std::uint64_t conn, std::uint64_t netfd, std::int64_t fd) {
    words[stream] = conn;
    words[conn] = netfd;
    words[netfd + 16] = static_cast<std::uint64_t>(fd);
  }
};

constexpr std::uint64_t kStream = 0xc000100000, kConn = 0xc000200000, kNetFD = 0xc000300000;

// The fd, or nullopt with the error's message in *why (cleared when there is none: no socket).
std::optional<int> fd_of(const Result<std::optional<int>>& fd, std::string* why) {
  why->clear();
  if (!fd) {
    *why = fd.error();
    return std::nullopt;
  }
  return *fd;
}

TEST(StreamSocketFd, FollowsConnFdAndSysfd) {
  FakeMemory memory;
  memory.chain(kStream, kConn, kNetFD, 7);
  std::string why;
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), 7) << why;
}

TEST(StreamSocketFd, ClosedStreamHasNoSocketAndIsNoError) {
  FakeMemory memory;
  memory.chain(kStream, 0, kNetFD, 7);  // conn nil: closed, or between a reconnect's connections
  std::string why = "stale";
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), std::nullopt);
  EXPECT_EQ(why, "");
  memory.chain(kStream, kConn, kNetFD, -1);  // poll.FD closed its fd
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), std::nullopt);
  EXPECT_EQ(why, "");
}

TEST(StreamSocketFd, RefusesWhatIsNoPointerOrNoFd) {
  FakeMemory memory;
  std::string why;
  EXPECT_EQ(fd_of(stream_socket_fd(memory, 0), &why), std::nullopt);
  EXPECT_NE(why, "");
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream + 3), &why), std::nullopt);  // misaligned
  EXPECT_NE(why, "");
  EXPECT_EQ(fd_of(stream_socket_fd(memory, std::uint64_t{1} << 52), &why), std::nullopt);  // kernel half
  EXPECT_NE(why, "");

  const std::pair<std::uint64_t, std::uint64_t> bad_pointers[] = {
      {0xc000200001, kNetFD},            // conn misaligned
      {std::uint64_t{1} << 48, kNetFD},  // conn beyond user space
      {kConn, 0},                        // netFD nil
      {kConn, 0x8000000000000000},       // netFD garbage
  };
  for (const auto& [conn, netfd] : bad_pointers) {
    memory.words.clear();
    memory.words[kStream] = conn;
    memory.words[conn] = netfd;
    why.clear();
    EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), std::nullopt) << std::hex << conn << " " << netfd;
    EXPECT_NE(why, "");
  }
  for (std::int64_t fd : {std::int64_t{-2}, std::int64_t{1} << 30, std::int64_t{1} << 40}) {
    memory.chain(kStream, kConn, kNetFD, fd);
    why.clear();
    EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), std::nullopt) << fd;
    EXPECT_NE(why, "") << fd;
  }
  memory.words.clear();  // unreadable: the read's own error
  why.clear();
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream), &why), std::nullopt);
  EXPECT_EQ(why, "EFAULT");
}

TEST(StreamSocketFd, OffsetsComeFromThePath) {
  FakeMemory memory;
  memory.words[kStream + 32] = kConn;
  memory.words[kConn + 8] = kNetFD;
  memory.words[kNetFD + 24] = 9;
  std::string why;
  EXPECT_EQ(fd_of(stream_socket_fd(memory, kStream, SocketPath{32, 8, 24}), &why), 9) << why;
}

TEST(SocketLink, ParsesSocketInodesOnly) {
  EXPECT_EQ(parse_socket_link("socket:[12345]"), 12345u);
  EXPECT_EQ(parse_socket_link("socket:[18446744073709551615]"), 18446744073709551615u);
  for (const char* bad :
       {"", "socket:[]", "socket:[0]", "socket:[12a]", "socket:[-1]", "socket:[12", "socket:12]", "pipe:[12345]",
        "anon_inode:[eventfd]", "/dev/null", "socket:[123] ", "socket:[18446744073709551616]"})
    EXPECT_EQ(parse_socket_link(bad), std::nullopt) << bad;
}

TEST(SocketLink, FindsTheInodeOfARealSocket) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto inode = socket_inode(getpid(), fds[0]);
  ASSERT_TRUE(inode) << inode.error();
  struct stat st {};
  ASSERT_EQ(fstat(fds[0], &st), 0);
  EXPECT_EQ(*inode, st.st_ino);
  close(fds[0]);
  close(fds[1]);
  inode = socket_inode(getpid(), fds[0]);  // closed
  ASSERT_FALSE(inode);
  EXPECT_NE(inode.error().find("readlink"), std::string::npos) << inode.error();
  EXPECT_EQ(inode.failure().code, ENOENT);  // the errno travels with the error
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  inode = socket_inode(getpid(), pipe_fds[0]);
  ASSERT_FALSE(inode);
  EXPECT_NE(inode.error().find("no socket"), std::string::npos) << inode.error();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

// The kernel's per-socket counts, set by the test.
struct FakeKernel : SocketCounters {
  std::map<std::uint64_t, dwcp_socket_bytes> sockets;
  std::set<std::uint64_t> forgotten;
  bool bytes(std::uint64_t inode, dwcp_socket_bytes* out) override {
    auto it = sockets.find(inode);
    if (it == sockets.end()) return false;
    *out = it->second;
    return true;
  }
  void forget(std::uint64_t inode) override {
    sockets.erase(inode);
    forgotten.insert(inode);
  }
  void add(std::uint64_t inode, std::uint64_t sent, std::uint64_t received) {
    sockets[inode].sent += sent;
    sockets[inode].received += received;
  }
};

constexpr std::uint64_t kSession = 0xc000010000, kOther = 0xc000020000;
constexpr std::uint64_t kS1 = 0xc000400000, kS2 = 0xc000500000;
constexpr std::uint64_t kC1 = 0xc000700000, kC2 = 0xc000710000, kC3 = 0xc000720000;

// One read: the stream's figures, the connection it held (0: nil) and the socket found behind it
// (0: none, closed).
StreamRead at(std::uint64_t session, std::uint64_t stream, std::int64_t id, std::uint64_t conn, std::uint64_t inode,
              std::uint64_t sent, std::uint64_t received, std::optional<std::int32_t> reconnects = std::nullopt,
              bool born_watched = false) {
  StreamRead r;
  r.session = session;
  r.stream = stream;
  r.id = id;
  r.conn = conn;
  r.inode = inode;
  r.sent = sent;
  r.received = received;
  r.reconnects = reconnects;
  r.born_watched = born_watched;
  return r;
}

void expect_difference(ConsistencyLedger& ledger, std::int64_t sent, std::int64_t received) {
  const ByteDifference d = ledger.difference();
  EXPECT_EQ(d.sent, sent);
  EXPECT_EQ(d.received, received);
}

void expect_unverified(const ConsistencyLedger& ledger, std::int64_t sent, std::int64_t received) {
  const ByteDifference u = ledger.unverified();
  EXPECT_EQ(u.sent, sent);
  EXPECT_EQ(u.received, received);
}

TEST(ConsistencyLedger, AgreeingCountsGiveZero) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 65544, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 65544, 0));  // the same connection: no lookup needed
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
  EXPECT_EQ(ledger.streams(), 1u);
  EXPECT_EQ(ledger.checked(), 1u);
}

TEST(ConsistencyLedger, BytesInFlightShowUntilDwcpCountsThem) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 4104, 8);  // written and a header read; DWCP counts after the whole chunk
  expect_difference(ledger, 4104, 8);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 4104, 0));
  kernel.add(100, 0, 1000);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 4104, 1008));
  expect_difference(ledger, 0, 0);
}

TEST(ConsistencyLedger, MidFlightAttachComparesFromTheFirstStillRead) {
  FakeKernel kernel;
  kernel.add(100, 300, 40);  // counted by BPF between the attach and the first read
  ConsistencyLedger ledger(kernel);
  // DWCP holds bytes from before the attach that the kernel never counted here; a chunk is in
  // flight (the kernel counted it, DWCP not yet): no baseline can be taken yet.
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 1'000'000, 5'000, 0));
  kernel.add(100, 700, 60);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1'000'700, 5'060, 0));  // moved: not still
  EXPECT_EQ(ledger.checked(), 0u);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1'000'700, 5'060, 0));  // still: the window opens here
  EXPECT_EQ(ledger.checked(), 1u);
  kernel.add(100, 1000, 8);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1'001'700, 5'060, 0));
  expect_difference(ledger, 0, 8);  // a header read, its chunk not yet counted by DWCP
  kernel.add(100, 0, 92);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1'001'700, 5'160, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 1'000'700, 5'060);
}

TEST(ConsistencyLedger, AMidFlightBaselineNeverTakesAChunkInFlight) {
  // The first read falls between the kernel's count of a chunk and DWCP's: the kernel has two
  // chunks, DWCP one. Taken as the baseline, that would leave one chunk of difference for good.
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  kernel.add(100, 2 * 65544, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 65544, 0, 0));
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 2 * 65544, 0, 0));
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 2 * 65544, 0, 0));
  kernel.add(100, 65544, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 3 * 65544, 0, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 2 * 65544, 0);
  EXPECT_EQ(ledger.checked(), 1u);
  // A reconnect while it waits: it waits on the new socket; one it cannot see: it stays unverified.
  ledger.observe(at(kSession, kS2, 1, kC2, 200, 10, 0, 0));
  kernel.add(300, 5, 0);
  ledger.observe(at(kSession, kS2, 1, kC3, 300, 15, 0, 1));
  ledger.observe(at(kSession, kS2, 1, kC3, 0, 15, 0, 1));
  kernel.add(300, 20, 0);
  ledger.observe(at(kSession, kS2, 1, kC3, 0, 35, 0, 1));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 2 * 65544 + 15, 0);
  EXPECT_EQ(ledger.checked(), 2u);
}

TEST(ConsistencyLedger, CountersThatBeganWhileWatchedStartFromZero) {
  // The same read as above, of a stream created while watched: both sides from 0, exact at once.
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  kernel.add(100, 2 * 65544, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 65544, 0, 0, true));
  EXPECT_EQ(ledger.checked(), 1u);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 2 * 65544, 0, 0, true));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
  // Nothing counted yet by DWCP: whatever the kernel has is in flight, both start from 0.
  kernel.add(200, 8, 0);
  ledger.observe(at(kSession, kS2, 1, kC2, 200, 0, 0));
  kernel.add(200, 65536, 0);
  ledger.observe(at(kSession, kS2, 1, kC2, 0, 65544, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
  // Born watched but reconnected before its first read: its first socket is unknown, so it
  // waits for a still read like a stream of before the attach.
  kernel.add(300, 10, 0);
  ledger.observe(at(kSession, 0xc000600000, 2, kC3, 300, 500, 0, 1, true));
  EXPECT_EQ(ledger.checked(), 2u);
  expect_unverified(ledger, 500, 0);
}

TEST(ConsistencyLedger, AStreamNeverFoundOpenIsUnverifiedNotADifference) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 500, 0));  // its socket already closed (Close's finals)
  EXPECT_EQ(ledger.checked(), 0u);
  kernel.add(100, 800, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 1300, 0));  // not taken up later: no baseline to trust
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 1300, 0);
  EXPECT_EQ(ledger.checked(), 0u);
  ledger.session_closed(kSession);
  expect_unverified(ledger, 1300, 0);
  EXPECT_EQ(ledger.streams(), 0u);
}

TEST(ConsistencyLedger, ASeenReconnectSumsEverySocketTheStreamHeld) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 10'000, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 10'000, 0));
  kernel.add(100, 1000, 0);  // the old connection's last bytes, never seen by a read of it
  kernel.add(200, 3000, 0);  // the new connection's: DWCP's counter continues across
  ledger.observe(at(kSession, kS1, 0, kC2, 200, 14'000, 0));
  expect_difference(ledger, 0, 0);
  kernel.add(200, 96, 0);
  ledger.observe(at(kSession, kS1, 0, kC2, 0, 14'096, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
}

TEST(ConsistencyLedger, AConnectionThatCameAndWentUnseenIsUnverifiedNotADifference) {
  // The --reconnect case: a stream reconnects, Sends on the new connection and Closes before the
  // agent looks; Close's finals name a connection whose socket is gone.
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0, 0, true));
  kernel.add(100, 131088, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 131088, 0, 0));
  kernel.add(200, 196632, 0);  // the new socket, never found
  ledger.observe(at(kSession, kS1, 0, kC2, 0, 131088 + 196632, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 196632, 0);
  ledger.session_closed(kSession);
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 196632, 0);
  EXPECT_EQ(ledger.checked(), 1u);
}

TEST(ConsistencyLedger, AClosedWindowKeepsTheKernelsCountOfItsLastVerifiedRead) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 1000, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1000, 0));
  kernel.add(100, 500, 0);  // more on the old connection, then a reconnect the agent missed
  kernel.add(200, 300, 0);
  ledger.observe(at(kSession, kS1, 0, kC2, 0, 1800, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 800, 0);
  // A wrong layout still shows within what was compared.
  FakeKernel kernel2;
  ConsistencyLedger ledger2(kernel2);
  ledger2.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel2.add(100, 1000, 0);
  ledger2.observe(at(kSession, kS1, 0, kC1, 0, 10, 0));
  ledger2.observe(at(kSession, kS1, 0, kC2, 0, 20, 0));
  kernel2.add(100, 1000, 0);
  expect_difference(ledger2, 990, 0);
}

TEST(ConsistencyLedger, MoreReconnectsThanConnectionsSeenEndTheWindow) {
  // Two reconnects between reads, the second connection at the first one's address (Go reused
  // the freed *TCPConn): the same pointer, but DWCP's own count says two came.
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0, 0));
  kernel.add(200, 400, 0);
  kernel.add(300, 600, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 1000, 0, 2));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 1000, 0);
}

TEST(ConsistencyLedger, AReconnectCountedAfterItsConnectionIsNoSkip) {
  // DWCP replaces the connection, then counts the reconnect: a read may fall in between.
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0, 0));
  kernel.add(200, 100, 0);
  ledger.observe(at(kSession, kS1, 0, kC2, 200, 100, 0, 0));
  kernel.add(200, 100, 0);
  ledger.observe(at(kSession, kS1, 0, kC2, 0, 200, 0, 1));
  kernel.add(300, 50, 0);
  ledger.observe(at(kSession, kS1, 0, kC3, 300, 250, 0, 1));
  kernel.add(300, 50, 0);
  ledger.observe(at(kSession, kS1, 0, kC3, 0, 300, 0, 2));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
}

TEST(ConsistencyLedger, WrongCounterShowsAsADifference) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 7, 7, 0, true));
  kernel.add(100, 65544, 131088);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 7, 7));  // a field that does not count bytes
  expect_difference(ledger, 65544 - 7, 131088 - 7);
}

TEST(ConsistencyLedger, ErrorsOfOppositeSignDoNotCancel) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  // Sent and received counters swapped by a wrong layout; sender and receiver in one process.
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  ledger.observe(at(kOther, kS2, 0, kC2, 200, 0, 0));
  kernel.add(100, 5000, 0);
  kernel.add(200, 0, 5000);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 0, 5000));
  ledger.observe(at(kOther, kS2, 0, kC2, 0, 5000, 0));
  expect_difference(ledger, 10000, 10000);
}

TEST(ConsistencyLedger, ClosedSessionsStaySettledAndAreForgotten) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  ledger.observe(at(kOther, kS2, 0, kC2, 200, 0, 0));
  kernel.add(100, 5000, 0);
  kernel.add(200, 0, 9000);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 4000, 0));  // Close's final figures (its socket closed)
  ledger.observe(at(kOther, kS2, 0, kC2, 0, 0, 9000));
  ledger.session_closed(kSession);
  EXPECT_EQ(ledger.streams(), 1u);
  EXPECT_EQ(kernel.forgotten, std::set<std::uint64_t>{100});
  expect_difference(ledger, 1000, 0);  // 1000 bytes the kernel sent that DWCP never counted
  ledger.session_closed(kOther);
  expect_difference(ledger, 1000, 0);
  EXPECT_EQ(ledger.streams(), 0u);
}

TEST(ConsistencyLedger, ANewStreamAtAFreedAddressStartsAfresh) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 500, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 500, 0));
  kernel.add(300, 77, 0);
  ledger.observe(at(kSession, kS1, 3, kC2, 300, 9999, 0));  // another id at the same address
  expect_difference(ledger, 0, 0);
  kernel.add(300, 23, 0);
  ledger.observe(at(kSession, kS1, 3, kC2, 0, 10'022, 0));
  expect_difference(ledger, 0, 0);
  EXPECT_EQ(ledger.streams(), 1u);
}

TEST(ConsistencyLedger, ASocketCountsForOneStreamOnly) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  ledger.observe(at(kSession, kS2, 1, kC2, 200, 0, 0));
  kernel.add(100, 10, 0);
  kernel.add(200, 20, 0);
  ledger.observe(at(kSession, kS2, 1, kC3, 100, 20, 0));  // a stale fd now naming kS1's socket
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 10, 0));
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 20, 0);
}

TEST(ConsistencyLedger, OlderReadsDoNotLowerFigures) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 900, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 900, 0));  // final figures
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 400, 0));  // a timer read that raced them
  expect_difference(ledger, 0, 0);
  expect_unverified(ledger, 0, 0);
}

TEST(ConsistencyLedger, AnEntryThatAgedOutDoesNotLowerTheKernelsCount) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  kernel.add(100, 800, 0);
  ledger.observe(at(kSession, kS1, 0, kC1, 0, 800, 0));
  expect_difference(ledger, 0, 0);
  kernel.sockets.erase(100);
  expect_difference(ledger, 0, 0);
}

TEST(ConsistencyLedger, IsBounded) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel, 2);
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  ledger.observe(at(kSession, kS2, 1, kC2, 200, 0, 0));
  EXPECT_FALSE(ledger.wants_socket(at(kSession, 0xc000600000, 2, kC3, 0, 0, 0)));
  EXPECT_FALSE(ledger.wants_conn(at(kSession, 0xc000600000, 2, kC3, 0, 0, 0)));
  ledger.observe(at(kSession, 0xc000600000, 2, kC3, 300, 0, 0));  // not tracked: not compared either
  kernel.add(300, 1000, 0);
  EXPECT_EQ(ledger.streams(), 2u);
  expect_difference(ledger, 0, 0);

  // A stream that reconnects more often than is kept per stream: settled, then afresh.
  std::uint64_t sent = 0;
  for (std::uint64_t inode = 1000; inode < 1000 + 3 * ConsistencyLedger::kMaxSocketsPerStream; ++inode) {
    kernel.add(inode, 10, 0);
    sent += 10;
    ledger.observe(at(kSession, kS1, 0, 0xc001000000 + 8 * inode, inode, sent, 0));
  }
  expect_difference(ledger, 0, 0);
  EXPECT_EQ(ledger.streams(), 2u);
}

TEST(ConsistencyLedger, LooksUpOnlyWhatItNeeds) {
  FakeKernel kernel;
  ConsistencyLedger ledger(kernel);
  EXPECT_TRUE(ledger.wants_conn(at(kSession, kS1, 0, kC1, 0, 0, 0)));
  EXPECT_TRUE(ledger.wants_socket(at(kSession, kS1, 0, kC1, 0, 0, 0)));
  EXPECT_FALSE(ledger.wants_socket(at(kSession, kS1, 0, 0, 0, 0, 0)));  // nil conn: nothing to look up
  ledger.observe(at(kSession, kS1, 0, kC1, 100, 0, 0));
  // Idle: no read of the connection at all; moving: the connection, but its socket only if it changed.
  EXPECT_FALSE(ledger.wants_conn(at(kSession, kS1, 0, kC1, 0, 0, 0)));
  EXPECT_TRUE(ledger.wants_conn(at(kSession, kS1, 0, kC1, 0, 8, 0)));
  EXPECT_TRUE(ledger.wants_conn(at(kSession, kS1, 0, kC1, 0, 0, 8)));
  EXPECT_FALSE(ledger.wants_socket(at(kSession, kS1, 0, kC1, 0, 8, 0)));
  EXPECT_TRUE(ledger.wants_socket(at(kSession, kS1, 0, kC2, 0, 8, 0)));
  EXPECT_TRUE(ledger.wants_conn(at(kSession, kS1, 1, kC1, 0, 0, 0)));  // another stream at the address
  // A window that ended needs nothing more.
  ledger.observe(at(kSession, kS1, 0, kC2, 0, 8, 0));
  EXPECT_FALSE(ledger.wants_conn(at(kSession, kS1, 0, kC2, 0, 16, 0)));
  EXPECT_FALSE(ledger.wants_socket(at(kSession, kS1, 0, kC3, 0, 16, 0)));
}

// The glue: a *StreamConn in (fake) target memory whose fd is a real socket of this process.
TEST(StreamConsistency, ReadsTheConnectionItselfAndCountsWhatItCannotSee) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  struct stat st {};
  ASSERT_EQ(fstat(fds[0], &st), 0);
  auto memory = std::make_unique<FakeMemory>();
  auto kernel = std::make_unique<FakeKernel>();
  FakeMemory& mem = *memory;
  FakeKernel& kern = *kernel;
  prometheus::Registry registry;
  ConsistencyMetrics metrics(registry);
  auto target = metrics.target(1);
  std::vector<std::string> logs;
  StreamConsistency consistency(getpid(), std::move(memory), std::move(kernel), target,
                                log::Logger([&](log::Level level, const std::string& m) {
                                  EXPECT_EQ(level, log::Level::kWarn) << m;
                                  logs.push_back(m);
                                }));
  mem.chain(kS1, kC1, kNetFD, fds[0]);
  StreamFigures figures;
  figures.ptr = kS1;
  figures.reconnects = 0;
  consistency.stream_read(kSession, figures, true);
  kern.add(st.st_ino, 65544, 0);
  figures.sent = 65544;
  consistency.stream_read(kSession, figures, true);
  consistency.publish();
  EXPECT_EQ(target.sent->Value(), 0);
  EXPECT_EQ(target.checked->Value(), 1);
  // Reconnected, sent and closed before the next read: Close's finals carry no connection, the
  // agent reads it (a new one) and its fd is closed.
  mem.chain(kS1, kC2, kNetFD + 0x1000, -1);
  kern.add(st.st_ino + 1, 1000, 0);
  StreamFigures finals;
  finals.ptr = kS1;
  finals.sent = 66544;
  consistency.stream_read(kSession, finals, true);
  consistency.session_closed(kSession);
  consistency.publish();
  EXPECT_EQ(target.sent->Value(), 0);
  EXPECT_EQ(target.unverified_sent->Value(), 1000);
  EXPECT_EQ(target.unverified_received->Value(), 0);
  EXPECT_TRUE(logs.empty()) << logs.front();
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace dwcp::agent
