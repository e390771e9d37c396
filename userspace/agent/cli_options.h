// dwcp-observer's command line: its flags (CLI11), checked and turned into AgentOptions. The
// --help text is the man page's source (help2man): a flag's wording changes both.
#pragma once

#include "agent/agent.h"
#include "dwcp_observer/result.h"

namespace dwcp::agent {

struct CommandLine {
  AgentOptions options;
  bool no_seccomp = false;  // --no-seccomp
  bool done = false;        // --help or --version was printed: nothing to run
};

// Parses and checks argv, and configures the log as --log.level/--log.format/--verbose say (a
// parse error is logged in the format asked for, when it can be told). A flag's own check, a
// usage error or a web config that cannot be used fail with ErrorKind::kUsage; main() turns
// the kind into the exit code. --web.systemd-socket takes systemd's sockets here (they are
// moved above fd 64).
Result<CommandLine> parse_command_line(int argc, char** argv);

}  // namespace dwcp::agent
