#include "top/terminal.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

namespace dwcp::top {

namespace {

volatile std::sig_atomic_t g_resized = 0;
volatile std::sig_atomic_t g_quit = 0;

void on_resize(int) { g_resized = 1; }
void on_quit(int) { g_quit = 1; }

// Without SA_RESTART, so a signal wakes the poll() in read_key.
void install(int sig, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);
}

void write_all(const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;  // the terminal went away: nothing to draw on
    }
  }
}

const char* sgr(Style style) {
  switch (style) {
    case Style::kTitle:
      return "\x1b[1m";
    case Style::kHeading:
      return "\x1b[7m";
    case Style::kGroup:
      return "\x1b[1;36m";
    case Style::kWarning:
      return "\x1b[1;33m";
    case Style::kPlain:
      return "";
  }
  return "";
}

}  // namespace

Result<std::unique_ptr<Terminal>> Terminal::open() {
  std::unique_ptr<Terminal> t(new Terminal());
  if (tcgetattr(STDIN_FILENO, &t->saved_) != 0) return Error{"standard input is not a terminal"};
  termios raw = t->saved_;
  // Keys one by one without echo; Ctrl-C arrives as a key (3) and quits like q. Output
  // processing stays on.
  raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG | IEXTEN));
  raw.c_iflag &= static_cast<tcflag_t>(~(IXON | ICRNL));
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return Error{"cannot set the terminal to raw mode"};
  install(SIGWINCH, on_resize);
  install(SIGTERM, on_quit);
  install(SIGHUP, on_quit);
  install(SIGINT, on_quit);
  // Alternate screen, hidden cursor, cleared.
  write_all("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
  return t;
}

Terminal::~Terminal() {
  write_all("\x1b[0m\x1b[?25h\x1b[?1049l");
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
}

std::size_t Terminal::width() const {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::size_t Terminal::height() const {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 24;
}

void Terminal::draw(const std::vector<Line>& lines, bool colour) {
  // One write per frame, each line cleared to its end: no flicker, no full-screen clear.
  std::string frame = "\x1b[H";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (colour && lines[i].style != Style::kPlain) {
      frame += sgr(lines[i].style) + lines[i].text + "\x1b[K\x1b[0m";
    } else {
      frame += lines[i].text + "\x1b[K";
    }
    if (i + 1 < lines.size()) frame += "\r\n";
  }
  frame += "\x1b[J";
  write_all(frame);
}

int Terminal::read_key(int timeout_ms) {
  if (g_quit) return kQuit;
  if (g_resized) {
    g_resized = 0;
    return kResized;
  }
  pollfd p{STDIN_FILENO, POLLIN, 0};
  int n = poll(&p, 1, timeout_ms);
  if (g_quit) return kQuit;
  if (g_resized) {
    g_resized = 0;
    return kResized;
  }
  if (n <= 0) return kNone;
  unsigned char c = 0;
  ssize_t r = read(STDIN_FILENO, &c, 1);
  if (r == 0) return kQuit;  // the terminal closed
  if (r < 0) return kNone;
  return c;
}

}  // namespace dwcp::top
