// The one error type (dwcp_observer/result.h): errno and kind kept, Result<T> and Result<void>.
#include "dwcp_observer/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace dwcp {
namespace {

TEST(Result, SystemErrorSaysWhatFailedAndKeepsErrno) {
  const Error error = Error::system("cannot open /nowhere", ENOENT, ErrorKind::kTarget);
  EXPECT_EQ(error.message, std::string("cannot open /nowhere: ") + std::strerror(ENOENT));
  EXPECT_EQ(error.code, ENOENT);
  EXPECT_EQ(error.kind, ErrorKind::kTarget);
  // libbpf's -errno is the same errno.
  EXPECT_EQ(Error::system("bpf", -EPERM).code, EPERM);
  EXPECT_EQ(Error{"plain"}.code, 0);
  EXPECT_EQ(Error{"plain"}.kind, ErrorKind::kRuntime);
  EXPECT_EQ(Error{"x"}.with_kind(ErrorKind::kBpf).kind, ErrorKind::kBpf);
}

TEST(Result, ValueOrErrorAndVoid) {
  Result<int> good = 7;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  Result<int> bad = Error::system("read", EIO, ErrorKind::kListen);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.failure().code, EIO);
  EXPECT_EQ(bad.failure().kind, ErrorKind::kListen);
  EXPECT_EQ(bad.error(), bad.failure().message);
  Result<void> done;
  EXPECT_TRUE(done);
  Result<void> failed = Error{"no"};
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), "no");
}

}  // namespace
}  // namespace dwcp
