// Privilege separation: the agent's HTTP server (TLS, basic auth, gzip, every byte a client
// sends) runs in a process of its own with no privilege at all, and asks the privileged agent
// for each /metrics body and /-/ready answer over a socketpair.
//
// The HTTP process is /proc/self/exe started in a hidden mode (`__http-child`): a fresh image,
// not a fork of a threaded process. It reads its options from the parent, binds the listen
// address and loads the TLS files while it still has the parent's privilege, then becomes
// --user/--group with no capability in any set, no_new_privs, and dies with its parent
// (PR_SET_PDEATHSIG). The parent holds no listening socket.
//
// The protocol (all on one SOCK_STREAM socketpair, one request at a time):
//   parent -> child, once:  frame(options)                      frame = u32 length + bytes
//   child -> parent, once:  frame("ok", address, credentials) or frame("error", message)
//   child -> parent:        one byte, 'M' (/metrics body) or 'R' (readiness)
//   parent -> child:        frame(status byte (1 = ok/ready), body or reason)
// The parent parses nothing else from the child: one byte per request, anything else ends it.
//
// If the HTTP process dies, the agent exits with code 1 (kExitRuntime) and systemd/Kubernetes
// restart it: after attach the agent is no longer root, so it could neither bind a port below
// 1024 nor read root-only TLS files to start a new one (docs/security.md).
#pragma once

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/privilege.h"
#include "dwcp_observer/fd.h"
#include "dwcp_observer/http_server.h"

namespace dwcp::agent {

// argv[1] of the HTTP process.
inline constexpr const char* kHttpChildMode = "__http-child";

class HttpChild {
 public:
  // Starts the HTTP process and waits until it serves (or says why it cannot). Call while still
  // privileged: it binds and reads TLS files with this process's credentials before dropping.
  static Result<std::unique_ptr<HttpChild>> start(const HttpOptions& options, const RunAs& run_as,
                                                  std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  ~HttpChild();  // ends the HTTP process
  HttpChild(const HttpChild&) = delete;
  HttpChild& operator=(const HttpChild&) = delete;

  // Starts answering the HTTP process. Call after this process dropped its privileges: the
  // answering thread inherits the reduced credentials.
  void serve();
  void add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
    content_->add_collectable(std::move(collectable));
  }
  void set_ready(bool ready, std::string reason_if_not_ready = "starting") {
    content_->set_ready(ready, std::move(reason_if_not_ready));
  }
  std::string address() const { return addresses_.empty() ? "" : addresses_.front(); }  // the first "host:port" bound
  std::vector<std::string> addresses() const { return addresses_; }                     // every one
  pid_t pid() const { return pid_; }
  std::string credentials() const { return credentials_; }  // the HTTP process's, as it reported them

 private:
  HttpChild() = default;
  void answer();  // the thread: one request, one reply, until the socket closes

  pid_t pid_ = -1;
  Fd fd_;  // our end of the socketpair
  std::vector<std::string> addresses_;
  std::string credentials_;
  std::shared_ptr<LocalContent> content_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Sends SIGHUP to the HTTP process (it re-reads the TLS files); async-signal-safe, for the
// agent's SIGHUP handler. Does nothing before the process started.
void forward_reload_signal();

// main() of the HTTP process (argv[1] == kHttpChildMode).
int http_child_main(int argc, char** argv);

}  // namespace dwcp::agent
