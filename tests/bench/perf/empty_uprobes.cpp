// empty_uprobes: holds uprobes with an empty BPF program (`r0 = 0; exit`) on the given file
// offsets of a binary, in one process, until stdin closes. The floor of benchmark 1: what any
// uprobe costs the target before a single instruction of an observer runs. Uses the agent's own
// EmptyUprobes (userspace/agent/trap_calibration.cpp): one uprobe_multi link, as the agent attaches.
//
// usage: empty_uprobes PID BINARY OFFSET [OFFSET...]   (offsets decimal or 0x-hex)
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "agent/trap_calibration.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PID BINARY OFFSET [OFFSET...]\n", argv[0]);
    return 2;
  }
  const int pid = std::atoi(argv[1]);
  const std::string binary = argv[2];
  std::vector<std::uint64_t> offsets;
  for (int i = 3; i < argc; ++i) offsets.push_back(std::strtoull(argv[i], nullptr, 0));
  auto probes = dwcp::agent::EmptyUprobes::attach(pid, binary, offsets);
  if (!probes) {
    std::fprintf(stderr, "empty_uprobes: %s\n", probes.error().c_str());
    return 1;
  }
  std::printf("ATTACHED %zu %s\n", offsets.size(), (*probes)->multi() ? "uprobe_multi" : "perf_event");
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);  // detach when the benchmark says so (or dies)
  return 0;
}
