// Prometheus text 0.0.4 -> OpenMetrics 1.0 (see http_server.h). prometheus-cpp 1.0.1 has no
// OpenMetrics serializer, so the text it writes is rewritten: it writes every family as
// HELP, TYPE, then its samples, which makes a line-by-line rewrite enough.
#include <set>
#include <sstream>

#include "dwcp_observer/http_server.h"

namespace dwcp {
namespace {

std::string sample_name(const std::string& line) { return line.substr(0, line.find_first_of("{ ")); }

}  // namespace

std::string to_openmetrics(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  std::set<std::string> add_total;  // counters whose samples lack the _total OpenMetrics needs
  std::string help_name, help_text;
  std::istringstream in(text);
  std::string line;
  auto flush_help = [&](const std::string& name) {
    if (help_name.empty()) return;
    out += "# HELP " + name + " ";
    for (char c : help_text) out += c == '"' ? std::string("\\\"") : std::string(1, c);  // OM escapes quotes too
    out += "\n";
    help_name.clear();
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      flush_help(help_name);
      const std::size_t space = line.find(' ', 7);
      help_name = line.substr(7, space == std::string::npos ? std::string::npos : space - 7);
      help_text = space == std::string::npos ? "" : line.substr(space + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::size_t space = line.find(' ', 7);
      std::string name = line.substr(7, space - 7);
      std::string type = space == std::string::npos ? "unknown" : line.substr(space + 1);
      std::string family = name;
      if (type == "untyped") type = "unknown";
      if (type == "counter") {
        if (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0)
          family = name.substr(0, name.size() - 6);
        else
          add_total.insert(name);
      }
      flush_help(help_name == name ? family : help_name);
      out += "# TYPE " + family + " " + type + "\n";
      continue;
    }
    if (line[0] == '#') continue;  // other comments have no place in OpenMetrics
    flush_help(help_name);
    const std::string name = sample_name(line);
    if (add_total.count(name) != 0)
      out += name + "_total" + line.substr(name.size()) + "\n";
    else
      out += line + "\n";
  }
  flush_help(help_name);
  out += "# EOF\n";
  return out;
}

}  // namespace dwcp
