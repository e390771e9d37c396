// The terminal while `top` runs: keys without echo or line buffering, the alternate screen, a
// hidden cursor; all restored when the object goes (also after q, Ctrl-C or SIGTERM, which only
// set a flag). Plain ANSI/VT100 sequences, which every terminal and ssh session passes.
#pragma once

#include <termios.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "dwcp_observer/result.h"
#include "top/render.h"

namespace dwcp::top {

class Terminal {
 public:
  static Result<std::unique_ptr<Terminal>> open();
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Columns and rows (80x24 when the size cannot be read).
  std::size_t width() const;
  std::size_t height() const;

  void draw(const std::vector<Line>& lines, bool colour);

  // A key pressed within timeout_ms, kNone on timeout, kResized when the window changed size,
  // kQuit on SIGTERM/SIGHUP/SIGINT or end of input.
  static constexpr int kNone = -1;
  static constexpr int kResized = -2;
  static constexpr int kQuit = -3;
  int read_key(int timeout_ms);

 private:
  Terminal() = default;
  termios saved_{};
};

}  // namespace dwcp::top
