// Result<T>: a value or an Error. The one way a call of ours fails (issue 19): errors travel as
// values so every caller sees them, and the message says what is wrong and, where we know it, what
// to do about it. Result<void> is for calls that return nothing (not named Status: the hook
// library's public API has a dwcp::Status of its own, include/dwcp_observer/hooks.h).
//
// An Error carries the errno of the system call that failed, when one did (as bpftrace's
// SystemError does), and a kind: what failed, which main() alone turns into an exit code. libbpf's
// and the kernel's NULL+errno and -errno conventions become an Error once, at our wrapper.
#pragma once

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace dwcp {

// What failed, from the operator's side (docs/troubleshooting.md maps each to an exit code).
enum class ErrorKind {
  kRuntime,    // anything else
  kUsage,      // bad flags or configuration files
  kTarget,     // no such process, zombie, kernel thread, executable unreadable, ...
  kSymbols,    // profile invalid, or the binary lacks the profile's symbols
  kPrivilege,  // missing capabilities
  kListen,     // cannot listen on the address
  kBpf,        // BPF load or attach failed
  // Reading a target's executable (agent/executable_loader.h): each is its own refusal there.
  kStuck,                // did not finish before its deadline (a stalled file system?)
  kUntrustedFileSystem,  // on a file system whose owners the kernel cannot vouch for (FUSE, NFS, ...)
  kStopped,              // the agent was told to stop while waiting: nothing failed
};

struct Error {
  std::string message;  // whole, errno's text included: what the operator reads
  int code = 0;         // errno of the failed system call; 0: none
  ErrorKind kind = ErrorKind::kRuntime;

  // "<what>: <strerror(code)>", keeping `code` for callers that tell ENOENT from EPERM. A
  // negative code (libbpf's -errno) counts as its positive errno.
  static Error system(const std::string& what, int code = errno, ErrorKind kind = ErrorKind::kRuntime) {
    if (code < 0) code = -code;
    return Error{what + ": " + std::strerror(code), code, kind};
  }
  // The same error, said to be of `k` (the layer that knows what failed says it).
  Error with_kind(ErrorKind k) && {
    kind = k;
    return std::move(*this);
  }
  Error with_kind(ErrorKind k) const& {
    Error copy = *this;
    copy.kind = k;
    return copy;
  }
  // The same error with `prefix` in front of its message ("cannot use the profile: " + ...).
  Error wrap(const std::string& prefix) const {
    Error copy = *this;
    copy.message = prefix + message;
    return copy;
  }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // value()/error() on the wrong side is a programming error: assert in debug builds.
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  // The message (what callers print or wrap); failure() for its errno and kind.
  const std::string& error() const { return failure().message; }
  const Error& failure() const {
    assert(!ok());
    return std::get<1>(state_);
  }

  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Error> state_;
};

// A call that returns nothing: ok, or an Error. `return {};` succeeds.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit on purpose

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& error() const { return failure().message; }
  const Error& failure() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace dwcp

namespace dwcp::goelf {
using dwcp::Error;
using dwcp::Result;
}  // namespace dwcp::goelf
