#include "top/exposition.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace dwcp::top {

std::string_view Sample::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// A cursor over one line; every read is bounds-checked.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  void skip_blanks() {
    while (!done() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  std::string_view name(bool metric) {
    std::size_t start = i;
    if (done() || !name_start(s[i]) || (!metric && s[i] == ':')) return {};
    while (!done() && name_char(s[i]) && (metric || s[i] != ':')) ++i;
    return s.substr(start, i - start);
  }
};

bool parse_value(std::string_view text, double* value) {
  if (text == "NaN") return *value = std::numeric_limits<double>::quiet_NaN(), true;
  if (text == "+Inf" || text == "Inf") return *value = std::numeric_limits<double>::infinity(), true;
  if (text == "-Inf") return *value = -std::numeric_limits<double>::infinity(), true;
  if (text.empty() || text.size() > 64) return false;
  std::string copy(text);  // strtod needs a terminated string
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && !std::isnan(*value);
}

// Parses `{a="x",b="y"}` (cursor on '{'). Returns an error message or "".
std::string parse_labels(Cursor& c, Labels* labels) {
  ++c.i;  // '{'
  for (;;) {
    c.skip_blanks();
    if (c.peek() == '}') {
      ++c.i;
      return "";
    }
    std::string_view key = c.name(false);
    if (key.empty()) return "bad label name";
    c.skip_blanks();
    if (c.peek() != '=') return "expected '=' after label " + std::string(key);
    ++c.i;
    c.skip_blanks();
    if (c.peek() != '"') return "expected '\"' for the value of label " + std::string(key);
    ++c.i;
    std::string value;
    for (;;) {
      if (c.done()) return "unterminated value of label " + std::string(key);
      char ch = c.s[c.i++];
      if (ch == '"') break;
      if (ch == '\\') {
        if (c.done()) return "unterminated escape in label " + std::string(key);
        char e = c.s[c.i++];
        value += e == 'n' ? '\n' : e;  // \\ \" \n
      } else {
        value += ch;
      }
    }
    if (labels->size() >= kMaxLabelsPerSample) return "more than " + std::to_string(kMaxLabelsPerSample) + " labels";
    labels->emplace_back(std::string(key), std::move(value));
    c.skip_blanks();
    if (c.peek() == ',') {
      ++c.i;
    } else if (c.peek() != '}') {
      return "expected ',' or '}' after label " + std::string(key);
    }
  }
}

}  // namespace

Result<std::vector<Sample>> parse_exposition(std::string_view text) {
  std::vector<Sample> samples;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto fail = [&](const std::string& why) {
      return Error{"exposition line " + std::to_string(line_no) + ": " + why};
    };
    if (line.size() > kMaxLineBytes) return fail("longer than " + std::to_string(kMaxLineBytes) + " bytes");
    Cursor c{line};
    c.skip_blanks();
    if (c.done() || c.peek() == '#') continue;
    Sample sample;
    std::string_view name = c.name(true);
    if (name.empty()) return fail("bad metric name");
    sample.name = std::string(name);
    if (c.peek() == '{') {
      std::string error = parse_labels(c, &sample.labels);
      if (!error.empty()) return fail(error);
    }
    if (c.peek() != ' ' && c.peek() != '\t') return fail("expected a blank before the value");
    c.skip_blanks();
    std::size_t start = c.i;
    while (!c.done() && c.peek() != ' ' && c.peek() != '\t') ++c.i;
    if (!parse_value(line.substr(start, c.i - start), &sample.value))
      return fail("bad value '" + std::string(line.substr(start, std::min<std::size_t>(c.i - start, 64))) + "'");
    // An optional integer timestamp may follow; nothing else.
    c.skip_blanks();
    if (!c.done()) {
      if (c.peek() == '-') ++c.i;
      std::size_t digits = c.i;
      while (!c.done() && c.peek() >= '0' && c.peek() <= '9') ++c.i;
      bool has_digits = c.i > digits;
      c.skip_blanks();
      if (!has_digits || !c.done()) return fail("trailing text after the value");
    }
    if (samples.size() >= kMaxSamples) return fail("more than " + std::to_string(kMaxSamples) + " samples");
    samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace dwcp::top
