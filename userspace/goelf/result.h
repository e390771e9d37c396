// Result<T>: a value or an error message. Errors travel as values so every caller sees them,
// and the message says what is wrong and, where we know it, what to do about it.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace dwcp {

// Tag that builds a failed Result of any T: `return Error{"..."};`.
struct Error {
  std::string message;
};

template <class T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : state_(std::in_place_index<1>, std::move(error.message)) {}  // NOLINT

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
  const std::string& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, std::string> state_;
};

}  // namespace dwcp

namespace dwcp::goelf {
using dwcp::Error;
using dwcp::Result;
}  // namespace dwcp::goelf
