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
#include "http/web_config.h"
#include "log/log.h"
#include "profile/profile.h"
#include "top/top.h"

namespace {

// Set by SIGINT/SIGTERM from the first instant: start() gives up a read it waits for, run() ends.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  // `dwcp-observer top [URL]`: the live terminal view of an agent (userspace/top), no BPF.
  if (argc > 1 && std::string(argv[1]) == "top")
    return dwcp::top::top_main(argc - 1, argv + 1, dwcp::agent::AgentOptions{}.listen);
  // The agent's own unprivileged HTTP process (agent/http_child.h), not a user-facing mode.
  if (argc > 1 && std::string(argv[1]) == dwcp::agent::kHttpChildMode) return dwcp::agent::http_child_main(argc, argv);
  using namespace dwcp::agent;
  // Before anything can block (reading a target's executable may): a signal only sets a flag,
  // which every wait of start() and run() looks at.
  struct sigaction stop_action {};
  stop_action.sa_handler = on_stop_signal;
  sigemptyset(&stop_action.sa_mask);
  stop_action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &stop_action, nullptr);
  sigaction(SIGTERM, &stop_action, nullptr);
  signal(SIGPIPE, SIG_IGN);
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
  std::string auth_file, web_config_file;
  std::string log_level = "info", log_format = "logfmt";
  app.add_option("--pid", pids, "PID of a DWCP process (repeat for several)")->check(CLI::Range(1, 1 << 30));
  app.add_option("--comm", comms, "observe the newest process with this command name; follows restarts");
  app.add_option("--exe", exes, "observe the newest process running this executable path; follows restarts");
  app.add_flag("--follow", options.follow, "when a --pid target exits, attach to its successor (same command name)");
  // Without --pid/--comm/--exe the agent discovers DWCP processes itself; these flags narrow
  // who it (and --comm/--exe/--follow) may follow. Executables must always be owned by root and
  // not writable by group or others (docs/security.md).
  std::vector<unsigned> allow_uids;
  app.add_option("--allow-uid", allow_uids,
                 "follow only processes running as this uid (real and effective; repeat for several)");
  app.add_option("--allow-path", options.policy.allow_paths,
                 "follow only executables at this path: a glob (/opt/*/bin/api-server) or a directory prefix "
                 "(/opt/novacron); repeat for several");
  app.add_option("--allow-build-id", options.policy.allow_build_ids,
                 "follow only binaries with this GNU or Go build id (repeat for several)");
  int resync_s = static_cast<int>(options.discovery_resync.count());
  app.add_option("--discovery-resync", resync_s,
                 "seconds between /proc scans once the kernel reports process execs (sched_process_exec); "
                 "they catch what the events missed")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--pod-logs-dir", options.pods_dir,
                 "the kubelet's pod log directory (<namespace>_<pod>_<uid>/): Kubernetes pod names for the "
                 "labels of discovered targets")
      ->capture_default_str();
  double attach_timeout_s = 5;
  app.add_option("--attach-timeout", attach_timeout_s,
                 "seconds to wait for a target's executable to be read before giving up on it (a stalled "
                 "file system); readiness reports it")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--web.listen-address,--listen", options.listen,
                 "address:port to serve /metrics on (127.0.0.1 by default; other addresses must be given "
                 "explicitly; 9090 is the seed's port)")
      ->capture_default_str();
  app.add_option("--web.config.file", web_config_file,
                 "exporter-toolkit web config: tls_server_config (cert_file, key_file, client_ca_file) and "
                 "basic_auth_users (bcrypt hashes)");
  app.add_option("--log.level", log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option("--log.format", log_format, "logfmt or json (one line per message, with a timestamp)")
      ->capture_default_str()
      ->check(CLI::IsMember({"logfmt", "json"}));
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
  app.add_option("--basic-auth-file", auth_file,
                 "deprecated, use --web.config.file: file with one line user:password (root-owned, mode "
                 "0600 or 0400); protects /metrics");
  // On by default: an observer must not cost DWCP more than a small, stated share. Over it the
  // costliest per-operation probes are sampled, never detached for good (agent/probe_budget.h).
  options.probe_budget = 0.02;
  app.add_option("--probe-budget", options.probe_budget,
                 "largest share of the targets' CPU time (or of one core, for targets using less) the uprobes "
                 "may cost, e.g. 0.02 for 2 %; above it the costliest per-operation probes are sampled: "
                 "attached part of every interval (logged; dwcp_observer_probe_sample_ratio{probe}). 0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  int overhead_interval_s = static_cast<int>(options.overhead_interval.count());
  app.add_option("--probe-budget-interval", overhead_interval_s,
                 "seconds over which the uprobes' cost is estimated and the budget judged")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  // Privilege separation (docs/security.md): after attach the agent and its HTTP process run as
  // this user; empty: dwcp-observer if it exists, else nobody:nogroup. "root" keeps uid 0.
  std::string run_as_user, run_as_group;
  app.add_option("--user", run_as_user,
                 "user the agent and its HTTP process run as after attach (default: dwcp-observer if it exists, "
                 "else nobody; root: stay uid 0)");
  app.add_option("--group", run_as_group, "group they run as after attach (default: the user's primary group; "
                 "nogroup for nobody)");
  app.add_flag("--verbose", options.verbose, "libbpf's log (same as --log.level=debug)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  namespace log = dwcp::log;
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kLogfmt;
  log::parse_level(log_level, &level);  // both checked by CLI11 above
  log::parse_format(log_format, &format);
  log::configure(options.verbose ? log::Level::kDebug : level, format);

  options.overhead_interval = std::chrono::seconds(overhead_interval_s);
  options.discovery_resync = std::chrono::seconds(resync_s);
  options.link_capacity_bps = link_capacity_mbps * 1e6;
  for (int pid : pids) options.targets.push_back({pid, "", "", "pid-" + std::to_string(pid)});
  for (auto comm : comms) {
    // The kernel keeps 15 bytes of a command name: a longer --comm would never match.
    if (comm.size() > 15) {
      log::warn("warning: --comm " + comm + " is longer than 15 characters; the kernel cuts command names to 15, so it "
                "matches \"" + comm.substr(0, 15) + "\" (use --exe PATH for a longer name)");
      comm.resize(15);
    }
    options.targets.push_back({0, comm, "", comm});
  }
  for (const auto& exe : exes) options.targets.push_back({0, "", exe, exe});
  options.policy.allow_uids.assign(allow_uids.begin(), allow_uids.end());
  {
    std::string why;
    options.run_as = resolve_run_as(run_as_user, run_as_group, &why);
    if (!options.run_as) {
      log::error(why);
      return kExitUsage;
    }
  }
  options.attach_timeout = std::chrono::milliseconds(static_cast<long long>(attach_timeout_s * 1000));
  options.stop = &g_stop;
  // No target named: discovery (every process whose binary holds the profile's package).
  options.discover = options.targets.empty();
  // The same process twice would count every event twice; more targets than the BPF side has
  // room for would fail half-attached.
  for (std::size_t i = 0; i < options.targets.size(); ++i)
    for (std::size_t j = i + 1; j < options.targets.size(); ++j)
      if (options.targets[i].label == options.targets[j].label) {
        log::error("target " + options.targets[i].label + " given twice: name each process once");
        return kExitUsage;
      }
  if (options.targets.size() > DWCP_MAX_TARGETS) {
    log::error(std::to_string(options.targets.size()) + " targets given, at most " +
               std::to_string(DWCP_MAX_TARGETS) + " can be observed at once: run another agent for the rest");
    return kExitUsage;
  }
  if (!auth_file.empty()) {
    auto credentials = dwcp::http::load_basic_auth_file(auth_file);
    if (!credentials) {
      log::error(credentials.error());
      return kExitUsage;
    }
    log::warn("--basic-auth-file is deprecated: put a bcrypt hash in --web.config.file instead");
    options.basic_auth_user = credentials->user;
    options.basic_auth_password = credentials->password;
  }
  if (!web_config_file.empty()) {
    auto web = dwcp::http::load_web_config(web_config_file);
    if (!web) {
      log::error(web.error());
      return kExitUsage;
    }
    options.tls = web->tls;
    options.basic_auth_users = web->basic_auth_users;
  }

  Agent agent(options);
  std::string error;
  int code = agent.start(&error);
  if (g_stop.load()) {
    log::info(std::string(g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM") + " received during start, detaching");
    return kExitOk;
  }
  if (code != kExitOk) {
    log::error(error, {{"exit_code", std::to_string(code)}});
    return code;
  }
  // Tests and scripts read the bound port from this line (--listen 127.0.0.1:0 picks one).
  log::info(std::string("serving ") + (options.tls.cert_file.empty() ? "http" : "https") + "://" +
            agent.listen_address() + "/metrics");

  agent.run(g_stop);
  log::info(std::string(g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM") + " received, detaching");
  return kExitOk;
}
