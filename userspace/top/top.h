// `dwcp-observer top [URL]`: a live terminal view of an agent's /metrics.
#pragma once

namespace dwcp::top {

// Where `top` looks when no URL is given: the agent's default listen address.
inline constexpr const char* kDefaultMetricsUrl = "http://127.0.0.1:9090/metrics";

// argv[0] is "top". Exit 0 on q (or one snapshot printed), 1 when the agent cannot be read in
// snapshot mode, 2 on bad flags.
int top_main(int argc, char** argv);

}  // namespace dwcp::top
