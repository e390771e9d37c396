// libbpf's own log lines routed into the agent's one logger (log/log.h), with levels: its warnings
// always, its info and debug lines (the verifier log) only with --verbose. Process-wide, as
// libbpf's print callback is.
#pragma once

namespace dwcp::agent {

void route_libbpf_log(bool verbose);

}  // namespace dwcp::agent
