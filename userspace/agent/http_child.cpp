#include "agent/http_child.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>

#include "agent/syscall_filter.h"
#include "log/log.h"

extern char** environ;

namespace dwcp::agent {
namespace {

constexpr int kChildFd = 3;                       // the socketpair end in the HTTP process
constexpr std::uint32_t kMaxOptions = 1u << 20;   // options frame (users, paths)
constexpr std::uint32_t kMaxStartup = 64u << 10;  // the child's "ok"/"error" frame
constexpr std::uint32_t kMaxBody = 64u << 20;     // one /metrics body
constexpr int kStartTimeoutMs = 30000;            // TLS setup and bind, on a slow machine
constexpr int kExitRuntime = 1;                   // agent.h's kExitRuntime
constexpr char kMetrics = 'M', kReadiness = 'R';

std::atomic<pid_t> g_http_pid{-1};  // for forward_reload_signal()

bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool send_frame(int fd, const std::string& payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  return write_all(fd, &size, sizeof(size)) && write_all(fd, payload.data(), payload.size());
}

// nullopt on EOF, error, or a frame longer than `max` (nothing of it is read then).
std::optional<std::string> read_frame(int fd, std::uint32_t max) {
  std::uint32_t size = 0;
  if (!read_all(fd, &size, sizeof(size)) || size > max) return std::nullopt;
  std::string payload(size, '\0');
  if (!read_all(fd, payload.data(), size)) return std::nullopt;
  return payload;
}

// Fields of a frame: each a u32 length and its bytes.
struct Encoder {
  std::string out;
  Encoder& put(const std::string& field) {
    const auto size = static_cast<std::uint32_t>(field.size());
    out.append(reinterpret_cast<const char*>(&size), sizeof(size));
    out += field;
    return *this;
  }
  Encoder& put(std::int64_t number) { return put(std::to_string(number)); }
};

struct Decoder {
  const std::string& in;
  std::size_t at = 0;
  bool get(std::string* field) {
    std::uint32_t size = 0;
    if (in.size() - at < sizeof(size)) return false;
    std::memcpy(&size, in.data() + at, sizeof(size));
    at += sizeof(size);
    if (in.size() - at < size) return false;
    field->assign(in, at, size);
    at += size;
    return true;
  }
  bool get(std::int64_t* number) {
    std::string text;
    if (!get(&text) || text.empty() || text.size() > 19 || text.find_first_not_of("-0123456789") != std::string::npos)
      return false;
    *number = std::stoll(text);
    return true;
  }
};

std::string encode_options(const HttpOptions& options, const RunAs& run_as) {
  Encoder e;
  auto list = [&e](const std::vector<std::string>& items) {
    e.put(static_cast<std::int64_t>(items.size()));
    for (const auto& item : items) e.put(item);
  };
  auto map = [&e](const std::map<std::string, std::string>& items) {
    e.put(static_cast<std::int64_t>(items.size()));
    for (const auto& [key, value] : items) e.put(key).put(value);
  };
  e.put(options.listen_address);
  list(options.extra_listen_addresses);
  e.put(static_cast<std::int64_t>(options.inherited_listeners.size()));
  e.put(options.telemetry_path).put(std::int64_t{options.max_connections}).put(std::int64_t{options.max_requests});
  e.put(std::int64_t{options.request_timeout_ms}).put(std::int64_t{options.idle_timeout_ms});
  e.put(options.basic_auth_user).put(options.basic_auth_password);
  map(options.basic_auth_users);
  const TlsOptions& tls = options.tls;
  e.put(tls.cert_file).put(tls.key_file).put(tls.client_ca_file).put(tls.client_auth_type);
  e.put(tls.min_version).put(tls.max_version);
  list(tls.cipher_suites);
  list(tls.curve_preferences);
  e.put(std::int64_t{tls.prefer_server_cipher_suites});
  map(options.headers);
  e.put(options.title);
  e.put(std::int64_t{log::current_format() == log::Format::kJson});
  e.put(std::int64_t{run_as.uid}).put(std::int64_t{run_as.gid}).put(run_as.name);
  e.put(std::int64_t{syscall_filters_enabled()});
  e.put(std::int64_t{::getpid()});
  return e.out;
}

bool decode_options(const std::string& frame, HttpOptions* options, RunAs* run_as, pid_t* parent) {
  Decoder d{frame};
  auto number = [&d](auto* out) {
    std::int64_t value = 0;
    if (!d.get(&value)) return false;
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(value);
    return true;
  };
  auto list = [&d](std::vector<std::string>* items) {
    std::int64_t count = 0;
    if (!d.get(&count) || count < 0 || count > 4096) return false;
    items->resize(static_cast<std::size_t>(count));
    for (auto& item : *items)
      if (!d.get(&item)) return false;
    return true;
  };
  auto map = [&d](std::map<std::string, std::string>* items) {
    std::int64_t count = 0;
    if (!d.get(&count) || count < 0 || count > 4096) return false;
    for (std::int64_t i = 0; i < count; ++i) {
      std::string key, value;
      if (!d.get(&key) || !d.get(&value)) return false;
      (*items)[key] = value;
    }
    return true;
  };
  std::int64_t inherited = 0, json = 0, seccomp = 1;
  TlsOptions& tls = options->tls;
  if (!d.get(&options->listen_address) || !list(&options->extra_listen_addresses) || !d.get(&inherited) ||
      inherited < 0 || inherited > 64 || !d.get(&options->telemetry_path) || !number(&options->max_connections) ||
      !number(&options->max_requests) || !number(&options->request_timeout_ms) || !number(&options->idle_timeout_ms) ||
      !d.get(&options->basic_auth_user) || !d.get(&options->basic_auth_password) || !map(&options->basic_auth_users) ||
      !d.get(&tls.cert_file) || !d.get(&tls.key_file) || !d.get(&tls.client_ca_file) || !d.get(&tls.client_auth_type) ||
      !d.get(&tls.min_version) || !d.get(&tls.max_version) || !list(&tls.cipher_suites) ||
      !list(&tls.curve_preferences) || !number(&tls.prefer_server_cipher_suites) || !map(&options->headers) ||
      !d.get(&options->title) || !d.get(&json) || !number(&run_as->uid) || !number(&run_as->gid) ||
      !d.get(&run_as->name) || !d.get(&seccomp) || !number(parent))
    return false;
  if (seccomp == 0) disable_syscall_filters();  // --no-seccomp
  // The listening sockets the parent handed over sit right after the channel.
  for (std::int64_t i = 0; i < inherited; ++i)
    options->inherited_listeners.push_back(kChildFd + 1 + static_cast<int>(i));
  log::configure(log::Level::kInfo, json != 0 ? log::Format::kJson : log::Format::kLogfmt);
  return true;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
           ")";
  return "ended (status " + std::to_string(status) + ")";
}

// The HTTP process's side: each request one round trip to the parent, one at a time.
class ParentChannel : public ContentSource {
 public:
  explicit ParentChannel(int fd) : fd_(fd) {}
  std::optional<std::string> metrics() override {
    auto [ok, body] = ask(kMetrics);
    return ok ? std::optional<std::string>(std::move(body)) : std::nullopt;
  }
  Result<void> ready() override {
    auto [ok, reason] = ask(kReadiness);
    return ok ? Result<void>() : Result<void>(Error{std::move(reason)});
  }
  std::mutex& mutex() { return mutex_; }

 private:
  // The parent's answer: its flag (1: yes) and its text.
  std::pair<bool, std::string> ask(char request) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<std::string> reply;
    if (!write_all(fd_, &request, 1) || !(reply = read_frame(fd_, kMaxBody)) || reply->empty()) {
      // The parent is gone (PR_SET_PDEATHSIG usually ends us first) or answered nonsense:
      // nothing true can be served any more.
      _exit(3);
    }
    return {(*reply)[0] == 1, reply->substr(1)};
  }

  int fd_;
  std::mutex mutex_;
};

}  // namespace

Result<std::unique_ptr<HttpChild>> HttpChild::start(const HttpOptions& options, const RunAs& run_as,
                                                    std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return Error::system("socketpair");
  std::unique_ptr<HttpChild> child(new HttpChild());
  child->fd_.reset(fds[0]);
  Fd child_end(fds[1]);  // dup2()ed into the HTTP process
  child->content_ = std::make_shared<LocalContent>(std::move(collectables));

  // posix_spawn (vfork + exec): safe in a process with threads. The child gets the socket as
  // fd 3 and no other descriptor of ours (BPF objects, target executables).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end.get(), kChildFd);
  // Listening sockets of socket activation follow as fds 4, 5, ... (main() moved them above 64,
  // so these dup2s cannot overwrite one another).
  const int inherited = static_cast<int>(options.inherited_listeners.size());
  for (int i = 0; i < inherited; ++i)
    posix_spawn_file_actions_adddup2(&actions, options.inherited_listeners[static_cast<std::size_t>(i)],
                                     kChildFd + 1 + i);
  posix_spawn_file_actions_addclosefrom_np(&actions, kChildFd + 1 + inherited);
  std::string fd_text = std::to_string(kChildFd);
  char arg0[] = "dwcp-observer-http";
  char* argv[] = {arg0, const_cast<char*>(kHttpChildMode), fd_text.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  child_end.reset();  // the HTTP process's only: its exit must show here as EOF
  if (rc != 0) return Error::system("cannot start the HTTP process", rc);
  child->pid_ = pid;
  g_http_pid.store(pid);

  std::optional<std::string> startup;
  pollfd waiting{child->fd_.get(), POLLIN, 0};
  const bool sent = send_frame(child->fd_.get(), encode_options(options, run_as));
  if (!sent || ::poll(&waiting, 1, kStartTimeoutMs) != 1 || !(startup = read_frame(child->fd_.get(), kMaxStartup)))
    return Error{"the HTTP process did not start (pid " + std::to_string(pid) + ")"};  // ~HttpChild reaps it
  Decoder d{*startup};
  std::string state, text;
  if (!d.get(&state) || !d.get(&text) || (state == "ok" && !d.get(&child->credentials_)) || state != "ok")
    return Error{state == "error" ? text : "the HTTP process answered nonsense at start"};
  for (std::size_t at = 0; at < text.size();) {  // addresses separated by spaces
    const std::size_t space = std::min(text.find(' ', at), text.size());
    child->addresses_.push_back(text.substr(at, space - at));
    at = space + 1;
  }
  return Result<std::unique_ptr<HttpChild>>(std::move(child));
}

void forward_reload_signal() {
  const pid_t pid = g_http_pid.load();
  if (pid > 0) ::kill(pid, SIGHUP);
}

HttpChild::~HttpChild() {
  stopping_ = true;
  g_http_pid.store(-1);
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);  // wakes answer()
  if (thread_.joinable()) thread_.join();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void HttpChild::serve() {
  thread_ = std::thread([this] { answer(); });
}

void HttpChild::answer() {
  std::string why = "closed its end";
  for (;;) {
    char request = 0;
    ssize_t n = ::read(fd_.get(), &request, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) break;
    std::string reply(1, '\1');
    if (request == kMetrics) {
      const std::string body = content_->metrics().value_or("");
      if (body.size() >= kMaxBody)
        reply = std::string(1, '\0') + "metrics body exceeds the channel's cap";
      else
        reply += body;
    } else if (request == kReadiness) {
      if (Result<void> ready = content_->ready(); !ready) reply = std::string(1, '\0') + ready.error();
    } else {
      why = "sent an unknown request";
      break;
    }
    if (!send_frame(fd_.get(), reply)) break;
  }
  if (stopping_) return;
  // Nothing serves /metrics any more, and this process can no longer start a server of its own
  // (it dropped root): exit non-zero so that systemd/Kubernetes restart the whole agent. Exiting
  // closes every BPF link, which detaches the probes.
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  dwcp::log::error("the HTTP process (pid " + std::to_string(pid_) + ") " + why + " and " + describe_status(status) +
                       ": exiting so that the service manager restarts the agent",
                   {{"exit_code", kExitRuntime}});
  _exit(kExitRuntime);
}

int http_child_main(int argc, char** argv) {
  // The parent ends this process (SIGKILL, or PR_SET_PDEATHSIG when it dies): a Ctrl-C or a
  // service manager's SIGTERM to every process must not end the server before the agent.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  if (argc != 3 || std::string(argv[2]) != std::to_string(kChildFd)) return 2;
  const int fd = kChildFd;
  HttpOptions options;
  RunAs run_as;
  pid_t parent = 0;
  const std::optional<std::string> frame = read_frame(fd, kMaxOptions);
  if (!frame || !decode_options(*frame, &options, &run_as, &parent)) return 2;
  auto fail = [fd](const std::string& message) {
    send_frame(fd, Encoder().put("error").put(message).out);
    return kExitRuntime;
  };
  if (Result<void> dropped = prepare_unprivileged(); !dropped)
    return fail("the HTTP process cannot drop privileges: " + dropped.error());
  // SIGHUP (forwarded by the agent, or sent here directly) re-reads the TLS files: blocked in
  // every thread (the server's inherit the mask) and taken by sigwait() below.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);
  auto channel = std::make_shared<ParentChannel>(fd);
  // No request reaches the parent before the start frame (a client may connect at once).
  std::unique_lock<std::mutex> hold(channel->mutex());
  auto started = HttpServer::start_with(options, channel);
  if (!started) return fail(started.error());
  if (Result<void> dropped = become_unprivileged(run_as); !dropped)
    return fail("the HTTP process cannot drop privileges: " + dropped.error());
  HttpServer& server = **started;
  // Set after the uid change (which clears it); the parent may have died just before.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) return kExitRuntime;
  const std::string credentials = describe_credentials();  // capget, getgroups: before the filter
  // Last: from here on the process only serves (agent/syscall_filter.h; a call outside the list
  // kills it, and the agent exits with it).
  if (Result<int> filtered = apply_syscall_filter(FilterRole::kHttp); !filtered)
    return fail("the HTTP process cannot load its seccomp filter: " + filtered.error());
  std::string bound;
  for (const std::string& address : server.addresses()) bound += (bound.empty() ? "" : " ") + address;
  if (!send_frame(fd, Encoder()
                          .put("ok")
                          .put(bound)
                          .put(credentials + (syscall_filters_enabled() ? " seccomp=filter" : " seccomp=off"))
                          .out))
    return kExitRuntime;
  hold.unlock();
  for (;;) {
    int sig = 0;
    if (sigwait(&hup, &sig) == 0 && sig == SIGHUP) {
      server.reload_tls();
      if (server.tls()) log::info("SIGHUP: TLS files are re-read at the next handshake");
    }
  }
}

}  // namespace dwcp::agent
