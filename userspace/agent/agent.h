// The node agent: resolves target processes, attaches the profile's probes, turns ring-buffer
// events into the metrics model, follows restarts, serves /metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/bpf_session.h"
#include "agent/decoder.h"
#include "agent/discovery.h"
#include "agent/encoder_reader.h"
#include "agent/executable_loader.h"
#include "agent/follow_policy.h"
#include "agent/http_child.h"
#include "agent/observer_metrics.h"
#include "agent/probe_budget.h"
#include "agent/process.h"
#include "agent/stream_reader.h"
#include "agent/stream_sockets.h"
#include "agent/target.h"
#include "dwcp_observer/http_server.h"
#include "dwcp_observer/model.h"
#include "dwcp_observer/result.h"
#include "log/log.h"
#include "profile/profile.h"

namespace dwcp {
class HttpServer;
namespace goelf {
class GoBinary;
class DwarfTypes;
}  // namespace goelf
}  // namespace dwcp

namespace dwcp::agent {

// Exit codes, documented in docs/troubleshooting.md; main() alone picks one, from the ErrorKind of
// what failed (dwcp_observer/result.h).
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,
  kExitUsage = 2,      // bad flags
  kExitTarget = 3,     // no such process, zombie, kernel thread, ...
  kExitSymbols = 4,    // profile invalid, or the binary lacks the profile's symbols
  kExitPrivilege = 5,  // missing capabilities
  kExitListen = 6,     // cannot listen on the address
  kExitBpf = 7,        // BPF load or attach failed
};

struct AgentOptions {
  std::vector<TargetSpec> targets;
  bool follow = false;                    // re-attach when the target restarts (always on for --comm/--exe)
  std::string listen = "127.0.0.1:9476";  // docs/deployment.md: why this port
  std::vector<std::string> extra_listen;  // more --web.listen-address flags
  std::vector<int> systemd_listeners;     // --web.systemd-socket: the sockets systemd passed
  std::string telemetry_path = "/metrics";
  int max_requests = 40;                            // --web.max-requests (0: no limit)
  bool disable_exporter_metrics = false;            // --web.disable-exporter-metrics: no process_*
  std::map<std::string, std::string> http_headers;  // web config http_server_config.headers
  std::string cluster = "default";
  std::string node;
  std::string profile_path;
  bool sockets_only = false;  // keep serving socket metrics when the binary lacks the symbols
  std::uint32_t ringbuf_bytes = 1u << 22;
  std::uint64_t wakeup_bytes = 256 * 1024;
  std::size_t max_label_values = 64;
  std::string basic_auth_user;
  std::string basic_auth_password;
  // --web.config.file: TLS and bcrypt basic-auth users (userspace/http/web_config.h).
  TlsOptions tls;
  std::map<std::string, std::string> basic_auth_users;
  bool verbose = false;  // --verbose: debug level and libbpf's own info/debug lines (BpfOptions::verbose)
  // --probe-budget: largest share of the targets' CPU time (or of one core, whichever is more)
  // the uprobes may cost (0.02 = 2 %); above it the costliest per-operation probes are sampled.
  // 0: no limit (the cost is still estimated).
  double probe_budget = 0.0;
  // WAN link capacity in bits/s (0: unknown): bandwidth utilization and migration speedup.
  double link_capacity_bps = 0;
  // How often the cost is estimated (and the budget judged).
  std::chrono::seconds overhead_interval{10};
  // No --pid/--comm/--exe: watch the node and attach to every process whose binary holds the
  // profile's package (agent/discovery.h), each under its own `target` label.
  bool discover = false;
  // /proc scans: every second until one has looked at every process (start-up, or no exec events
  // on this kernel), then a resync every discovery_resync for what exec events missed.
  std::chrono::milliseconds discovery_interval{1000};
  std::chrono::seconds discovery_resync{60};
  // The kubelet's pod log directory: Kubernetes pod namespaces and names (agent/identity.h).
  std::string pods_dir = "/var/log/pods";
  // Who may be followed (discovery, --comm/--exe and --follow successors).
  FollowPolicy policy;
  // --attach-timeout: longest wait for a target's executable to be read (agent/executable_loader.h).
  std::chrono::milliseconds attach_timeout{5000};
  // --user/--group: who the agent and its HTTP process become after attach (agent/privilege.h).
  std::optional<RunAs> run_as;
  // Set by the signal handler: start() gives up waiting for a read when it becomes true.
  const std::atomic<bool>* stop = nullptr;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();

  // Everything up to "probes attached and serving"; on failure says what failed (its kind picks
  // the exit code), having attached nothing that outlives the call.
  Result<void> start();
  // Runs the consumer/lifecycle loop until `stop` becomes true.
  void run(const std::atomic<bool>& stop);
  std::string listen_address() const;                 // host:port actually bound (the first)
  std::vector<std::string> listen_addresses() const;  // every one

 private:
  // Reads the process's executable (on a worker, with --attach-timeout) and attaches.
  Result<void> attach(Target& target, const ProcessInfo& process);
  // Attaches what `loaded` read, through its file descriptor, and checks afterwards that the
  // process still runs that very file: if not, detaches and says so.
  Result<void> attach_loaded(Target& target, const ProcessInfo& process, LoadedExecutable& loaded);
  // Every overhead interval: each probe's estimated in-target time, the share of the targets'
  // CPU, the budget's sampling ratios, and the start of the next sampling windows.
  void account_overhead();
  // Ends the sampling windows that are due: their probes are detached until the next interval.
  void end_sampling_windows();
  // Between two ticks (a few times a second): cuts the per-operation probes attached all the time
  // whose cost so far already exceeds the interval's budget (ProbeBudget::cut_short).
  void check_interval_budget();
  // Probes sampled by the budget or cut short in the interval now running (shown "sampled").
  std::set<std::uint32_t> sampled_or_cut() const {
    std::set<std::uint32_t> ids;
    for (const auto& [id, r] : sample_ratio_) ids.insert(id);
    for (const auto& [id, at] : cut_at_) ids.insert(id);
    return ids;
  }
  // When the next overhead tick is due before the regular one: now, for a target attached since
  // the last tick (its baseline), and 1 s after that tick (its first decision).
  std::chrono::steady_clock::time_point early_tick() const { return early_tick_; }
  // The observer metrics of a live target: its uprobe count and each probe's state (a sampled
  // probe's state is "sampled").
  void publish_sites(const Target& target);
  // `exited`: the kernel reported the process's end (its links may go without waiting).
  void detach(Target& target, bool exited);
  void check_lifecycle();  // check_targets, then update_readiness
  void check_targets();
  void sample_bandwidth();
  void read_stream_counters();
  // --follow, --comm or --exe: the target is looked for again when its process goes.
  bool follows(const Target& target) const;
  // Attaches a restarted (or re-executed) target's new process; says once why when it cannot.
  void attach_successor(Target& target, const ProcessInfo& process);
  // --comm/--exe: the newest matching process the follow policy allows (refusals counted).
  std::optional<ProcessInfo> find_allowed(const std::string& comm, const std::string& exe,
                                          const std::vector<int>& exclude);
  // One discovery pass: attach to new DWCP processes (agent/discovery.h); `execs`: only these
  // processes, which the kernel says just execve()d; null: a /proc scan.
  void discover(const std::vector<int>* execs = nullptr, bool judged_too = true);
  // The process events of the last poll: execs go to discovery, an observed process's exit (or
  // exec in place) and an exec while a --comm/--exe target waits are checked at once (the
  // lifecycle check runs before discovery).
  void handle_proc_events();
  void handle_event(const dwcp_event& event);
  // A target's metrics model; `target_label` "" for the single target of a plain run (no label).
  std::unique_ptr<MetricsModel> make_model(const std::string& target_label,
                                           const std::map<std::string, std::string>& identity_labels = {}) const;
  // /-/ready: 200 while at least one target is attached with its probes live, else 503 saying,
  // target by target, why not (not attached yet, exited, waiting for a successor), and false
  // while a target's executable read is stuck past its deadline.
  void update_readiness();

  log::Logger log_;  // every line says its level

  AgentOptions options_;
  profile::Profile profile_;
  std::unique_ptr<BpfSession> bpf_;
  std::shared_ptr<ModelRegistry> models_;
  std::shared_ptr<ObserverMetrics> observer_;
  std::shared_ptr<SessionMetrics> session_metrics_;
  std::shared_ptr<ConsistencyMetrics> consistency_metrics_;
  std::unique_ptr<HttpChild> http_;                           // the unprivileged HTTP process (agent/http_child.h)
  std::shared_ptr<prometheus::Collectable> process_metrics_;  // process_* (served weakly)
  std::vector<std::unique_ptr<Target>> targets_;              // agent/target.h: each owns what is kept for it
  bool warned_no_sampling_ = false;                           // the budget said once that this kernel cannot sample
  std::unique_ptr<ExecutableLoader> loader_;
  std::shared_ptr<RefusalLog> refusals_;
  std::unique_ptr<Discovery> discovery_;                       // only without target flags
  std::set<std::pair<int, std::uint64_t>> refused_followers_;  // (pid, start time) counted once
  std::uint64_t proc_events_lost_ = 0;                         // the kernel's count at the last discovery scan
  std::set<int> stuck_candidates_;  // discovery: PIDs whose read was given up, retried once it ends
  std::set<int> exited_;            // observed PIDs whose exit the kernel reported, for check_targets

  // Overhead accounting (agent/agent_budget.cpp). The stats session keeps the kernel's BPF run-time
  // accounting on exactly as long as the agent runs.
  std::unique_ptr<BpfStatsSession> bpf_stats_;
  double trap_ns_ = 0;
  ProgramRunStats last_run_{};
  BpfCounters last_counters_{};
  std::map<int, double> last_cpu_seconds_;         // by target pid
  std::map<int, std::uint64_t> last_socket_runs_;  // by target pid: counted socket calls + RTT samples
  BpfSession::SocketProgramStats last_sockets_{};
  std::uint64_t gone_socket_runs_ = 0;  // runs of targets detached since the last tick
  std::chrono::steady_clock::time_point last_overhead_at_{};
  // Sampling: the ratio of each probe the budget samples (probe id -> 0 < r < 1), the ratio in
  // force over the interval now running (what its hits stand for), and the end of the current
  // window of each sampled probe still attached.
  std::map<std::uint32_t, double> sample_ratio_;
  std::map<std::uint32_t, double> interval_ratio_;
  std::map<std::uint32_t, std::chrono::steady_clock::time_point> window_end_;
  // Judging early: probes cut short in the interval now running (probe id -> when), the length
  // planned for that interval, the last interval's BPF ns per uprobe run, and the early tick.
  std::map<std::uint32_t, std::chrono::steady_clock::time_point> cut_at_;
  std::set<std::uint32_t> tick_edges_;  // probes whose unmatched exits are sampling edges until the next tick
  double planned_interval_s_ = 0;
  double bpf_ns_per_run_ = 0;
  std::chrono::steady_clock::time_point early_tick_{};
};

}  // namespace dwcp::agent
