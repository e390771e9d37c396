// Basic auth for /metrics, built to hold under a password-guessing flood (issue 20):
//  - bcrypt never runs under a lock or on the server's loop: a check() that needs a hash is
//    queued on a small pool (at lower CPU priority), and refused unchecked when the pool's queue
//    is full;
//  - an unknown user name costs one bcrypt of the highest configured cost, like a wrong password
//    of a known user, so response times say nothing about which names exist;
//  - an Authorization header that once passed is remembered (bounded), so the configured
//    scraper pays no hash per scrape;
//  - each client address may fail a burst of 10 logins, then one per second.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "http/work_pool.h"

namespace dwcp::http {

// The highest bcrypt cost a web config may use: each step doubles the CPU one guess costs the
// server (cost 12 is ~0.25 s here; the attack run used $2y$31$, ~3 days per check).
inline constexpr int kMaxBcryptCost = 12;
// The cost of a bcrypt hash ($2b$10$... -> 10), or -1 when `hash` is not one.
int bcrypt_cost(const std::string& hash);

class BasicAuth {
 public:
  enum class Verdict { kOk, kMissing, kWrong, kRateLimited, kBusy };

  // `users`: name -> bcrypt hash; or `plain_user`/`plain_password` (the hook library's form).
  BasicAuth(std::map<std::string, std::string> users, const std::string& plain_user, const std::string& plain_password,
            int threads, int queue);
  bool enabled() const { return !users_.empty() || !expected_.empty(); }

  // Decides at once when it can (cached, missing, rate-limited, plaintext, queue full); else
  // queues the hash check and calls `done` from a pool thread. Returns true when it answered
  // through `*now`, false when `done` will be called.
  bool check(const std::string& authorization, const std::string& client, Verdict* now,
             std::function<void(Verdict)> done);
  std::string failure_metrics() const;  // dwcp_observer_http_auth_failures_total

 private:
  Verdict verdict(bool ok, const std::string& authorization, const std::string& client);
  bool hash_ok(const std::string& authorization) const;

  std::map<std::string, std::string> users_;
  std::string dummy_hash_;  // bcrypt of the highest configured cost, for unknown names
  std::string expected_;    // "Basic base64(user:password)" of the plaintext form
  std::mutex mutex_;        // guards verified_ and failures_ (never held during a hash)
  std::vector<std::string> verified_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<std::string, Bucket> failures_;
  std::atomic<std::uint64_t> missing_{0}, wrong_{0}, rate_limited_{0}, busy_{0};
  WorkPool pool_;  // last: its threads stop before the rest goes
};

}  // namespace dwcp::http
