// Reads one sample out of an exposition text: the value of the line `series value`.
#pragma once

#include <optional>
#include <sstream>
#include <string>

namespace dwcp::testing {

inline std::optional<double> text_value(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

}  // namespace dwcp::testing
