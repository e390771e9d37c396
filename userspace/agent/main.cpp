// dwcp-observer: attach to a running DWCP process by PID and serve its metrics.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "agent/agent.h"
#include "dwcp_observer/version.h"
#include "profile/profile.h"
#include "top/top.h"

namespace {

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// "user:password" from a file (so the password is not visible in `ps`).
bool read_basic_auth(const std::string& path, std::string* user, std::string* password, std::string* error) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    *error = "cannot read --basic-auth-file " + path + ": expected one line `user:password`";
    return false;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
    *error = "--basic-auth-file " + path + " must hold one line `user:password`";
    return false;
  }
  *user = line.substr(0, colon);
  *password = line.substr(colon + 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // `dwcp-observer top [URL]`: the live terminal view of an agent (userspace/top), no BPF.
  if (argc > 1 && std::string(argv[1]) == "top")
    return dwcp::top::top_main(argc - 1, argv + 1, dwcp::agent::AgentOptions{}.listen);
  using namespace dwcp::agent;
  AgentOptions options;
  options.node = hostname();
  options.profile_path = dwcp::profile::default_profile_path();

  // glibc gives every thread that allocates an arena of its own and keeps freed memory there:
  // with HTTP worker threads building 10,000-series responses the agent held 56 MiB instead of
  // 37 MiB (docs/performance.md, benchmark 4). Two arenas keep the consumer and scrapes apart.
  mallopt(M_ARENA_MAX, 2);

  CLI::App app{"dwcp-observer: DWCP metrics from an unmodified DWCP process, through eBPF"};
  app.footer("A live view of a running agent: dwcp-observer top [URL] (dwcp-observer top --help).");
  app.set_version_flag("--version", std::string(DWCP_OBSERVER_VERSION) + " (" + DWCP_OBSERVER_REVISION + ")");
  std::vector<int> pids;
  std::vector<std::string> comms, exes;
  std::string auth_file;
  app.add_option("--pid", pids, "PID of a DWCP process (repeat for several)")->check(CLI::Range(1, 1 << 30));
  app.add_option("--comm", comms, "observe the newest process with this command name; follows restarts");
  app.add_option("--exe", exes, "observe the newest process running this executable path; follows restarts");
  app.add_flag("--follow", options.follow, "when a --pid target exits, attach to its successor (same command name)");
  app.add_option("--listen", options.listen, "address:port to serve /metrics on (127.0.0.1 by default; other addresses must be given explicitly)")
      ->capture_default_str();
  app.add_option("--cluster", options.cluster, "value of the cluster label")->capture_default_str();
  app.add_option("--node", options.node, "value of the node label (default: host name)");
  app.add_option("--profile", options.profile_path, "probe profile (JSON)")->capture_default_str();
  app.add_flag("--sockets-only", options.sockets_only,
               "serve kernel-side socket metrics even when the binary lacks the profile's symbols");
  app.add_option("--ringbuf-size", options.ringbuf_bytes, "BPF ring buffer bytes (a power of two, at least 4096)")
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
        if (v < 4096 || (v & (v - 1)) != 0 || v > (1ull << 30))
          return "ring buffer size must be a power of two between 4096 and 1073741824";
        return "";
      });
  app.add_option("--max-label-values", options.max_label_values, "distinct values kept per free-form label (rest -> \"other\")")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  double link_capacity_mbps = 0;
  app.add_option("--link-capacity-mbps", link_capacity_mbps,
                 "capacity of the WAN link DWCP uses, in Mbit/s: enables bandwidth utilization and "
                 "migration speedup (0: unknown)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--basic-auth-file", auth_file, "file with one line user:password; protects /metrics");
  app.add_option("--probe-budget", options.probe_budget,
                 "largest share of the targets' CPU time the uprobes may cost, e.g. 0.02 for 2 %; above "
                 "it the costliest probes are detached (logged; dwcp_observer_probe_demoted{probe} = 1). "
                 "0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  int overhead_interval_s = static_cast<int>(options.overhead_interval.count());
  app.add_option("--probe-budget-interval", overhead_interval_s,
                 "seconds over which the uprobes' cost is estimated and the budget judged")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_flag("--verbose", options.verbose, "libbpf's log and per-probe details");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  options.overhead_interval = std::chrono::seconds(overhead_interval_s);
  options.link_capacity_bps = link_capacity_mbps * 1e6;
  for (int pid : pids) options.targets.push_back({pid, "", "", "pid-" + std::to_string(pid)});
  for (const auto& comm : comms) options.targets.push_back({0, comm, "", comm});
  for (const auto& exe : exes) options.targets.push_back({0, "", exe, exe});
  if (options.targets.empty()) {
    std::fprintf(stderr, "dwcp-observer: no target: give --pid PID (or --comm NAME / --exe PATH)\n");
    return kExitUsage;
  }
  // The same process twice would count every event twice; more targets than the BPF side has
  // room for would fail half-attached.
  for (std::size_t i = 0; i < options.targets.size(); ++i)
    for (std::size_t j = i + 1; j < options.targets.size(); ++j)
      if (options.targets[i].label == options.targets[j].label) {
        std::fprintf(stderr, "dwcp-observer: target %s given twice: name each process once\n",
                     options.targets[i].label.c_str());
        return kExitUsage;
      }
  if (options.targets.size() > DWCP_MAX_TARGETS) {
    std::fprintf(stderr, "dwcp-observer: %zu targets given, at most %d can be observed at once: run another agent for the rest\n",
                 options.targets.size(), DWCP_MAX_TARGETS);
    return kExitUsage;
  }
  if (!auth_file.empty()) {
    std::string error;
    if (!read_basic_auth(auth_file, &options.basic_auth_user, &options.basic_auth_password, &error)) {
      std::fprintf(stderr, "dwcp-observer: %s\n", error.c_str());
      return kExitUsage;
    }
  }

  // SIGINT/SIGTERM are taken by a dedicated wait below; every thread started from here on
  // inherits the blocked mask, so none of them is interrupted mid-syscall.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Agent agent(options);
  std::string error;
  int code = agent.start(&error);
  if (code != kExitOk) {
    std::fprintf(stderr, "dwcp-observer: %s\n", error.c_str());
    return code;
  }
  // Tests and scripts read the bound port from this line (--listen 127.0.0.1:0 picks one).
  std::fprintf(stderr, "dwcp-observer: serving http://%s/metrics\n", agent.listen_address().c_str());

  std::atomic<bool> stop{false};
  std::thread consumer([&] { agent.run(stop); });
  int received = 0;
  sigwait(&signals, &received);
  stop = true;
  consumer.join();
  std::fprintf(stderr, "dwcp-observer: %s received, detaching\n", received == SIGINT ? "SIGINT" : "SIGTERM");
  return kExitOk;
}
