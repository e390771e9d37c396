// Fd: the one owner of a file descriptor (issue 19). Closes it when destroyed; a move transfers it
// and leaves the source empty, so exactly one object ever closes a descriptor. Every class of ours
// that holds a descriptor holds an Fd instead of an int and a hand-written destructor: a forgotten
// close in one path, or a move that copies the int (Link's spec map once did), cannot happen.
#pragma once

#include <unistd.h>

#include <utility>

namespace dwcp {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}  // takes ownership (negative: empty, e.g. a failed open's -1)
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }  // still owned: for calls that use it
  explicit operator bool() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it (to a caller that owns it from now on).
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }
  // Closes the one held (if any) and holds `fd` instead.
  void reset(int fd = -1) {
    const int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);  // close's error is not ours to act on: the descriptor is gone either way
  }

 private:
  int fd_ = -1;
};

}  // namespace dwcp
