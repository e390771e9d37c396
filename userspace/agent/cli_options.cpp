#include "agent/cli_options.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/privilege.h"
#include "dwcp_observer/version.h"
#include "http/web_config.h"
#include "log/log.h"
#include "profile/profile.h"

namespace dwcp::agent {
namespace {

// Prometheus's version block (prometheus/common/version.Print), with the platform as Go names it.
std::string version_block() {
#if defined(__x86_64__)
  const char* arch = "amd64";
#elif defined(__aarch64__)
  const char* arch = "arm64";
#else
  const char* arch = "unknown";
#endif
  return std::string("dwcp-observer, version ") + DWCP_OBSERVER_VERSION + " (branch: " + DWCP_OBSERVER_BRANCH +
         ", revision: " + DWCP_OBSERVER_REVISION + ")\n  build user:       " + DWCP_OBSERVER_BUILD_USER +
         "\n  build date:       " + DWCP_OBSERVER_BUILD_DATE + "\n  compiler:         " +
#if defined(__clang__)
         "clang " + __clang_version__ +
#else
         "gcc " + __VERSION__ +
#endif
         "\n  platform:         linux/" + arch + "\n  tags:             unknown";
}

// --log.format as given on the command line, for the parse error of the rest of it.
log::Format format_from_argv(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--log.format=json" || (arg == "--log.format" && i + 1 < argc && std::string(argv[i + 1]) == "json"))
      return log::Format::kJson;
  }
  return log::Format::kLogfmt;
}

// --web.systemd-socket: the listening sockets systemd passed (LISTEN_FDS from fd 3, for this
// PID), moved above fd 64 so that the HTTP process's own fd 3.. can be set up from them.
Result<std::vector<int>> take_systemd_sockets() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* count = std::getenv("LISTEN_FDS");
  if (pid == nullptr || count == nullptr || std::atoi(pid) != ::getpid() || std::atoi(count) < 1)
    return Error{
        "--web.systemd-socket: no sockets passed by systemd (LISTEN_PID/LISTEN_FDS unset or not for this "
        "process): start the service through its .socket unit, or drop the flag",
        0, ErrorKind::kUsage};
  std::vector<int> fds;
  const int n = std::min(std::atoi(count), 16);
  for (int i = 0; i < n; ++i) {
    const int moved = fcntl(3 + i, F_DUPFD_CLOEXEC, 64);
    if (moved < 0) return Error::system("--web.systemd-socket: fd " + std::to_string(3 + i), errno, ErrorKind::kUsage);
    ::close(3 + i);
    fds.push_back(moved);
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return fds;
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

Result<CommandLine> parse_command_line(int argc, char** argv) {
  CommandLine command_line;
  AgentOptions& options = command_line.options;
  options.node = hostname();
  options.profile_path = profile::default_profile_path();

  CLI::App app{"dwcp-observer: DWCP metrics from an unmodified DWCP process, through eBPF"};
  app.footer("A live view of a running agent: dwcp-observer top [URL] (dwcp-observer top --help).");
  app.set_version_flag("--version", version_block());
  std::vector<int> pids;
  std::vector<std::string> comms, exes;
  std::string auth_file, web_config_file;
  bool systemd_socket = false;
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
  app.add_option("--allow-fs", options.policy.allow_fs_types,
                 "also follow executables on this file system type (as /proc/mounts names it: fuse.sshfs, nfs4; "
                 "repeat for several). By default only local file systems whose owners the kernel keeps (ext4, xfs, "
                 "btrfs, tmpfs, overlay, ...) are followed: a FUSE or network server can claim any owner");
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
  std::vector<std::string> listen_addresses = {options.listen};
  app.add_option("--web.listen-address,--listen", listen_addresses,
                 "address:port to serve /metrics on, repeat for several: 127.0.0.1:9476, [::1]:9476, "
                 "localhost:9476, :9476 (every IPv4 interface); other addresses than loopback must be given "
                 "explicitly")
      ->capture_default_str();
  app.add_flag("--web.systemd-socket", systemd_socket,
               "serve on the sockets systemd passes (socket activation, LISTEN_FDS) instead of "
               "--web.listen-address");
  app.add_option("--web.telemetry-path", options.telemetry_path, "path under which to expose metrics")
      ->capture_default_str()
      ->check([](const std::string& text) {
        return !text.empty() && text[0] == '/' && text.find_first_of(" ?#") == std::string::npos
                   ? std::string()
                   : std::string("must start with / and hold no space, ? or #");
      });
  app.add_flag("--web.disable-exporter-metrics", options.disable_exporter_metrics,
               "leave out the agent's own process_* metrics (as node_exporter leaves out go_*/process_*)");
  app.add_option("--web.max-requests", options.max_requests,
                 "largest number of scrape and readiness requests answered at once; more get 503 (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option(
      "--web.config.file", web_config_file,
      "exporter-toolkit web config: tls_server_config (certificates, client_auth_type, versions, "
      "cipher_suites, curve_preferences), http_server_config (headers) and basic_auth_users (bcrypt hashes)");
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
  app.add_option("--max-label-values", options.max_label_values,
                 "distinct values kept per free-form label (rest -> \"other\")")
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
  app.add_option("--group", run_as_group,
                 "group they run as after attach (default: the user's primary group; "
                 "nogroup for nobody)");
  bool no_seccomp = false;
  app.add_flag("--no-seccomp", no_seccomp,
               "load no seccomp system call filter in the agent, its HTTP process and its read helper "
               "(debugging only: docs/security.md)");
  app.add_flag("--verbose", options.verbose, "libbpf's log (same as --log.level=debug)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    command_line.done = true;
    (void)app.exit(e);  // prints the help text
    return command_line;
  } catch (const CLI::CallForAllHelp& e) {
    command_line.done = true;
    (void)app.exit(e);
    return command_line;
  } catch (const CLI::CallForVersion& e) {
    command_line.done = true;
    (void)app.exit(e);  // prints the version block
    return command_line;
  } catch (const CLI::ParseError& e) {
    // Through the log format the operator asked for: a log pipeline parses this line too.
    log::configure(log::Level::kInfo, format_from_argv(argc, argv));
    return Error{std::string(e.what()) + " (see --help)", 0, ErrorKind::kUsage};
  }
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kLogfmt;
  log::parse_level(log_level, &level);  // both checked by CLI11 above
  log::parse_format(log_format, &format);
  log::configure(options.verbose ? log::Level::kDebug : level, format);

  command_line.no_seccomp = no_seccomp;
  options.listen = listen_addresses.front();
  options.extra_listen.assign(listen_addresses.begin() + 1, listen_addresses.end());
  if (systemd_socket) {
    auto sockets = take_systemd_sockets();
    if (!sockets) return sockets.failure();
    options.systemd_listeners = std::move(sockets).value();
  }
  options.overhead_interval = std::chrono::seconds(overhead_interval_s);
  options.discovery_resync = std::chrono::seconds(resync_s);
  options.link_capacity_bps = link_capacity_mbps * 1e6;
  for (int pid : pids) options.targets.push_back({pid, "", "", "pid-" + std::to_string(pid)});
  for (auto comm : comms) {
    // The kernel keeps 15 bytes of a command name: a longer --comm would never match.
    if (comm.size() > 15) {
      log::warn("warning: --comm " + comm +
                " is longer than 15 characters; the kernel cuts command names to 15, so it "
                "matches \"" +
                comm.substr(0, 15) + "\" (use --exe PATH for a longer name)");
      comm.resize(15);
    }
    options.targets.push_back({0, comm, "", comm});
  }
  for (const auto& exe : exes) options.targets.push_back({0, "", exe, exe});
  options.policy.allow_uids.assign(allow_uids.begin(), allow_uids.end());
  if (auto run_as = resolve_run_as(run_as_user, run_as_group)) {
    options.run_as = std::move(run_as).value();
  } else {
    return run_as.failure();
  }
  options.attach_timeout = std::chrono::milliseconds(static_cast<long long>(attach_timeout_s * 1000));
  // No target named: discovery (every process whose binary holds the profile's package).
  options.discover = options.targets.empty();
  // The same process twice would count every event twice; more targets than the BPF side has
  // room for would fail half-attached.
  for (std::size_t i = 0; i < options.targets.size(); ++i)
    for (std::size_t j = i + 1; j < options.targets.size(); ++j)
      if (options.targets[i].label == options.targets[j].label)
        return Error{"target " + options.targets[i].label + " given twice: name each process once", 0,
                     ErrorKind::kUsage};
  if (options.targets.size() > DWCP_MAX_TARGETS)
    return Error{std::to_string(options.targets.size()) + " targets given, at most " +
                     std::to_string(DWCP_MAX_TARGETS) + " can be observed at once: run another agent for the rest",
                 0, ErrorKind::kUsage};
  if (!auth_file.empty()) {
    auto credentials = http::load_basic_auth_file(auth_file);
    if (!credentials) return credentials.failure().with_kind(ErrorKind::kUsage);
    log::warn("--basic-auth-file is deprecated: put a bcrypt hash in --web.config.file instead");
    options.basic_auth_user = credentials->user;
    options.basic_auth_password = credentials->password;
  }
  if (!web_config_file.empty()) {
    auto web = http::load_web_config(web_config_file);
    if (!web) return web.failure().with_kind(ErrorKind::kUsage);
    options.tls = web->tls;
    options.basic_auth_users = web->basic_auth_users;
    options.http_headers = web->headers;
  }
  return command_line;
}

}  // namespace dwcp::agent
