// What the GoBinary tests share: where CMake put the real Go builds, one function name of them,
// and reading a file whole (tests only; the agent maps files, goelf/elf_image.h).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "goelf/go_binary.h"

namespace goelf_test {

inline const std::string kDir = GOELF_TEST_BINARIES;
inline const std::string kSendChunk = "example.com/goelftest/transport.(*MultiStreamTCP).sendChunk";

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

inline dwcp::goelf::GoBinary open_or_die(const std::string& name) {
  auto binary = dwcp::goelf::GoBinary::open(kDir + "/" + name);
  if (!binary) throw std::runtime_error(binary.error());
  return std::move(binary).value();
}

}  // namespace goelf_test
