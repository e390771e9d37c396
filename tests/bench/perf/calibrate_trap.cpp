// calibrate_trap: runs the agent's trap calibration (userspace/agent/trap_calibration.cpp) once and
// prints the ns per uprobe hit, to compare calibrations on a loaded or idle machine
// (docs/performance.md, "The agent's own cost"). Root.
//
// usage: calibrate_trap [CALLS ROUNDS]   (default: the agent's)
// build, from the source tree (one line):
//   g++ -std=c++17 -O2 -Iuserspace -Iinclude -o calibrate_trap tests/bench/perf/calibrate_trap.cpp
//       userspace/agent/trap_calibration.cpp userspace/agent/bpf_stats.cpp userspace/agent/uprobe_attach.cpp
//       userspace/agent/load_base.cpp $(pkg-config --cflags --libs libbpf)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/trap_calibration.h"

int main(int argc, char** argv) {
  auto c = argc >= 3 ? dwcp::agent::calibrate_trap_cost(std::strtoull(argv[1], nullptr, 0), std::atoi(argv[2]))
                     : dwcp::agent::calibrate_trap_cost();
  if (!c) {
    std::fprintf(stderr, "calibrate_trap: %s\n", c.error().c_str());
    return 1;
  }
  std::printf("%.0f ns per hit (plain call %.1f ns, %s, %s)\n", c->ns_per_hit, c->ns_per_plain_call,
              c->multi ? "uprobe_multi" : "perf-event uprobe", c->verified ? "verified" : "not verified");
  return 0;
}
