// One leveled logger for the agent: timestamped lines in logfmt (the default, as Prometheus's own
// components write them) or JSON, on stderr. Values are escaped, so an exe path or comm with a
// newline or quote cannot forge a line.
//
//   ts=2026-12-02T04:50:00.123Z level=info msg="attached 21 uprobes to process 1234"
//   {"ts":"2026-12-02T04:50:00.123Z","level":"info","msg":"attached 21 uprobes to process 1234"}
#pragma once

#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace dwcp::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

// "debug", "info", "warn", "error" / "logfmt", "json". False on anything else.
bool parse_level(std::string_view text, Level* level);
bool parse_format(std::string_view text, Format* format);

// Process-wide; set once at start (from --log.level/--log.format) before threads log.
void configure(Level minimum, Format format, std::FILE* out = stderr);
bool enabled(Level level);

Format current_format();

// key=value; a number is written bare in JSON ("exit_code":2), as Prometheus's loggers write it.
struct Field {
  Field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, long long n) : key(k), value(std::to_string(n)), number(true) {}
  Field(std::string_view k, int n) : Field(k, static_cast<long long>(n)) {}
  std::string_view key;
  std::string value;
  bool number = false;
};

// One line: ts, level, msg, then the fields in order. Whole lines are written under a lock.
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kDebug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kInfo, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kWarn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kError, m, f); }

// The logger a subsystem is handed: every call says its level. By default it writes through
// write() above; a test gives it a sink of its own to see the lines (and their levels).
class Logger {
 public:
  using Sink = std::function<void(Level, const std::string&)>;
  Logger() = default;
  explicit Logger(Sink sink) : sink_(std::move(sink)) {}

  void log(Level level, const std::string& message) const {
    if (sink_)
      sink_(level, message);
    else
      write(level, message);
  }
  void debug(const std::string& m) const { log(Level::kDebug, m); }
  void info(const std::string& m) const { log(Level::kInfo, m); }
  void warn(const std::string& m) const { log(Level::kWarn, m); }
  void error(const std::string& m) const { log(Level::kError, m); }

 private:
  Sink sink_;
};

// The line write() would print, without the lock or the output (for tests).
std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields, Format format,
                        std::string_view timestamp);

}  // namespace dwcp::log
