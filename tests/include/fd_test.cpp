// The one owner of a descriptor (dwcp_observer/fd.h). Each case holds the write end of a pipe in
// an Fd and watches the read end: EOF there means the write end was closed (by exactly one owner),
// EAGAIN that it is still open. No root.
#include "dwcp_observer/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace dwcp {
namespace {

// A pipe whose read end says whether the write end is still open somewhere.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    }
  }
  ~Pipe() { ::close(read_end); }
  bool writer_open() const {
    char byte;
    return ::read(read_end, &byte, 1) < 0 && errno == EAGAIN;  // 0: EOF, every writer closed
  }
};

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(Fd, ClosesWhenDestroyed) {
  Pipe pipe;
  ASSERT_GE(pipe.write_end, 0);
  {
    Fd fd(pipe.write_end);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), pipe.write_end);
    EXPECT_TRUE(pipe.writer_open());
  }
  EXPECT_FALSE(pipe.writer_open());
}

TEST(Fd, MoveTransfersOwnershipAndLeavesTheSourceEmpty) {
  Pipe pipe;
  ASSERT_GE(pipe.write_end, 0);
  Fd moved;
  EXPECT_FALSE(moved);
  {
    Fd owner(pipe.write_end);
    Fd middle(std::move(owner));
    EXPECT_FALSE(owner);  // NOLINT(bugprone-use-after-move): what a move leaves is the point
    EXPECT_EQ(owner.get(), -1);
    moved = std::move(middle);
    EXPECT_FALSE(middle);  // NOLINT(bugprone-use-after-move)
  }                        // the moved-from owners are destroyed here: they must not close it
  EXPECT_TRUE(pipe.writer_open());
  EXPECT_EQ(moved.get(), pipe.write_end);
  moved.reset();
  EXPECT_FALSE(moved);
  EXPECT_FALSE(pipe.writer_open());
}

TEST(Fd, ReleaseGivesItUpWithoutClosing) {
  Pipe pipe;
  ASSERT_GE(pipe.write_end, 0);
  int raw = -1;
  {
    Fd fd(pipe.write_end);
    raw = fd.release();
    EXPECT_FALSE(fd);
  }
  EXPECT_EQ(raw, pipe.write_end);
  EXPECT_TRUE(pipe.writer_open());
  EXPECT_TRUE(is_open(raw));
  Fd again(raw);  // owned again: closed by it
  again.reset(-1);
  EXPECT_FALSE(pipe.writer_open());
}

// Two pipes: an Fd holding the first one's write end is given the second one's.
class FdTakingAnother : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(first.write_end, 0);
    ASSERT_GE(second.write_end, 0);
  }
  // The first write end was closed, the second is open and held by `fd`.
  void expect_swapped(const Fd& fd) const {
    EXPECT_FALSE(first.writer_open()) << "the descriptor held before leaked";
    EXPECT_TRUE(second.writer_open());
    EXPECT_EQ(fd.get(), second.write_end);
  }
  Pipe first, second;
};

TEST_F(FdTakingAnother, MoveAssignmentClosesWhatItHeld) {
  Fd fd(first.write_end);
  fd = Fd(second.write_end);
  expect_swapped(fd);
  Fd& self = fd;
  fd = std::move(self);  // a self-move keeps it
  expect_swapped(fd);
}

TEST_F(FdTakingAnother, ResetClosesTheOldAndHoldsTheNew) {
  Fd fd(first.write_end);
  fd.reset(second.write_end);
  expect_swapped(fd);
}

TEST(Fd, AFailedOpenIsEmpty) {
  Fd fd(::open("/nonexistent/dwcp-observer", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
}

}  // namespace
}  // namespace dwcp
