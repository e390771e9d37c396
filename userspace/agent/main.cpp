// dwcp-observer: attach to a running DWCP process by PID and serve its metrics.
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <string>

#include "agent/agent.h"
#include "agent/cli_options.h"
#include "agent/syscall_filter.h"
#include "log/log.h"
#include "top/top.h"

namespace {

// Set by SIGINT/SIGTERM from the first instant: start() gives up a read it waits for, run() ends.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}

void on_reload_signal(int) { dwcp::agent::forward_reload_signal(); }

// Before anything can block (reading a target's executable may): a signal only sets a flag,
// which every wait of start() and run() looks at.
void handle_signals() {
  struct sigaction stop_action {};
  stop_action.sa_handler = on_stop_signal;
  sigemptyset(&stop_action.sa_mask);
  stop_action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &stop_action, nullptr);
  sigaction(SIGTERM, &stop_action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // SIGHUP (systemd's ExecReload) re-reads the TLS files in the HTTP process; never ends the agent.
  struct sigaction reload_action {};
  reload_action.sa_handler = on_reload_signal;
  sigemptyset(&reload_action.sa_mask);
  reload_action.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &reload_action, nullptr);
}

// The exit code of a failed start: what failed, as docs/troubleshooting.md lists it. The one place
// an error becomes an exit code.
int exit_code(dwcp::ErrorKind kind) {
  using dwcp::ErrorKind;
  using namespace dwcp::agent;
  switch (kind) {
    case ErrorKind::kRuntime:
      return kExitRuntime;
    case ErrorKind::kUsage:
      return kExitUsage;
    case ErrorKind::kTarget:
    case ErrorKind::kStuck:  // reading a target's executable: attach says kTarget, these never come here
    case ErrorKind::kUntrustedFileSystem:
    case ErrorKind::kStopped:
      return kExitTarget;
    case ErrorKind::kSymbols:
      return kExitSymbols;
    case ErrorKind::kPrivilege:
      return kExitPrivilege;
    case ErrorKind::kListen:
      return kExitListen;
    case ErrorKind::kBpf:
      return kExitBpf;
  }
  return kExitRuntime;
}

// Logs what failed with the exit code it picks, and returns that code.
int fail(const dwcp::Error& error) {
  const int code = exit_code(error.kind);
  dwcp::log::error(error.message, {{"exit_code", code}});
  return code;
}

const char* signal_name() { return g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM"; }

}  // namespace

int main(int argc, char** argv) {
  using namespace dwcp::agent;
  namespace log = dwcp::log;
  // `dwcp-observer top [URL]`: the live terminal view of an agent (userspace/top), no BPF.
  if (argc > 1 && std::string(argv[1]) == "top") return dwcp::top::top_main(argc - 1, argv + 1, AgentOptions{}.listen);
  // The agent's own unprivileged HTTP process (agent/http_child.h), not a user-facing mode.
  if (argc > 1 && std::string(argv[1]) == kHttpChildMode) return http_child_main(argc, argv);
  handle_signals();
  // glibc gives every thread that allocates an arena of its own and keeps freed memory there:
  // with HTTP worker threads building 10,000-series responses the agent held 56 MiB instead of
  // 37 MiB (docs/performance.md, benchmark 4). Two arenas keep the consumer and scrapes apart.
  mallopt(M_ARENA_MAX, 2);

  dwcp::Result<CommandLine> command_line = parse_command_line(argc, argv);
  if (!command_line) return fail(command_line.failure());
  if (command_line->done) return kExitOk;
  if (command_line->no_seccomp) disable_syscall_filters();
  AgentOptions& options = command_line->options;
  options.stop = &g_stop;

  Agent agent(options);
  const dwcp::Result<void> started = agent.start();
  if (g_stop.load()) {
    log::info(std::string(signal_name()) + " received during start, detaching");
    return kExitOk;
  }
  if (!started) return fail(started.failure());
  // Tests and scripts read the bound port from this line (--listen 127.0.0.1:0 picks one).
  for (const std::string& address : agent.listen_addresses())
    log::info(std::string("serving ") + (options.tls.cert_file.empty() ? "http" : "https") + "://" + address +
              options.telemetry_path);

  agent.run(g_stop);
  log::info(std::string(signal_name()) + " received, detaching");
  return kExitOk;
}
