#include "log/log.h"

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

namespace dwcp::log {
namespace {

std::atomic<int> g_minimum{static_cast<int>(Level::kInfo)};
std::atomic<Format> g_format{Format::kLogfmt};
std::atomic<std::FILE*> g_out{nullptr};  // nullptr: stderr (not a constant initializer)
std::mutex g_mutex;

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// RFC 3339 UTC with milliseconds, as Prometheus's go-kit/slog loggers print it.
std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

// JSON string body (also used for quoted logfmt values): quotes, backslashes and every control
// character escaped, so one call is always one line.
void append_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\u%04x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void append_logfmt_value(std::string& out, std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) plain = false;
  if (plain) {
    out += value;
    return;
  }
  out += '"';
  append_escaped(out, value);
  out += '"';
}

}  // namespace

bool parse_level(std::string_view text, Level* level) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError})
    if (text == level_name(l)) {
      *level = l;
      return true;
    }
  return false;
}

bool parse_format(std::string_view text, Format* format) {
  if (text == "logfmt")
    *format = Format::kLogfmt;
  else if (text == "json")
    *format = Format::kJson;
  else
    return false;
  return true;
}

void configure(Level minimum, Format format, std::FILE* out) {
  g_minimum = static_cast<int>(minimum);
  g_format = format;
  g_out = out;
}

Format current_format() { return g_format.load(); }

bool enabled(Level level) { return static_cast<int>(level) >= g_minimum.load(); }

std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields, Format format,
                        std::string_view timestamp) {
  std::string line;
  line.reserve(64 + message.size());
  if (format == Format::kJson) {
    line += "{\"ts\":\"";
    line += timestamp;
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"msg\":\"";
    append_escaped(line, message);
    line += '"';
    for (const Field& field : fields) {
      line += ",\"";
      append_escaped(line, field.key);
      line += field.number ? "\":" : "\":\"";
      append_escaped(line, field.value);
      if (!field.number) line += '"';
    }
    line += "}\n";
    return line;
  }
  line += "ts=";
  line += timestamp;
  line += " level=";
  line += level_name(level);
  line += " msg=";
  append_logfmt_value(line, message);
  for (const Field& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    append_logfmt_value(line, field.value);
  }
  line += '\n';
  return line;
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  const std::string line = format_line(level, message, fields, g_format.load(), now_rfc3339());
  std::FILE* out = g_out.load();
  if (out == nullptr) out = stderr;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace dwcp::log
