// `dwcp-observer top [URL]`: a live terminal view of an agent's /metrics.
#pragma once

#include <string>

namespace dwcp::top {

// argv[0] is "top". Without a URL, `top` reads http://<default_listen>/metrics: the agent's own
// default listen address (AgentOptions::listen), so the two cannot drift apart. Exit 0 on q (or
// one snapshot printed), 1 when the agent cannot be read in snapshot mode, 2 on bad flags.
int top_main(int argc, char** argv, const std::string& default_listen);

}  // namespace dwcp::top
