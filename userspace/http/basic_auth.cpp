#include "http/basic_auth.h"

#include <crypt.h>

#include <cstring>
#include <optional>
#include "model/observer_families.h"

namespace dwcp::http {
namespace {

constexpr const char* kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr double kBurst = 10;              // failed logins an address may make at once
constexpr double kPerSecond = 1;           // then one per second
constexpr std::size_t kMaxClients = 4096;  // failing addresses remembered (then forgotten at once)
constexpr std::size_t kMaxVerified = 16;   // remembered good headers

std::string base64(const std::string& in) {
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char c : in) {
    value = (value << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64[(value >> bits) & 63];
    }
  }
  if (bits > 0) out += kBase64[(value << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// Same time whatever the first differing byte: the password must not leak through timing.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

// "Basic dXNlcjpwYXNz" -> "user:pass"; nullopt when not that form.
std::optional<std::string> decode_basic(const std::string& header) {
  if (header.rfind("Basic ", 0) != 0) return std::nullopt;
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (std::size_t i = 6; i < header.size() && header[i] != '='; ++i) {
    const char* at = std::strchr(kBase64, header[i]);
    if (at == nullptr || header[i] == '\0') return std::nullopt;
    value = (value << 6) | static_cast<unsigned>(at - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

// crypt(3) of `password` with the stored hash as its setting; equal hashes = right password.
bool hash_matches(const std::string& password, const std::string& hash) {
  struct crypt_data data {};
  const char* computed = crypt_r(password.c_str(), hash.c_str(), &data);
  if (computed == nullptr || computed[0] == '*') return false;  // "*0"/"*1": bad setting
  return constant_time_equal(computed, hash);
}

}  // namespace

int bcrypt_cost(const std::string& hash) {
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || std::strchr("aby", hash[2]) == nullptr ||
      hash[3] != '$' || hash[6] != '$' || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
    return -1;
  return (hash[4] - '0') * 10 + (hash[5] - '0');
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users, const std::string& plain_user,
                     const std::string& plain_password, int threads, int queue)
    : users_(std::move(users)), pool_(users_.empty() ? 0 : threads, static_cast<std::size_t>(queue), 10) {
  if (users_.empty() && !plain_user.empty()) expected_ = "Basic " + base64(plain_user + ":" + plain_password);
  int cost = 4;
  for (const auto& [user, hash] : users_) cost = std::max(cost, bcrypt_cost(hash));
  if (!users_.empty()) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data data {};
    if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting, sizeof(setting)) != nullptr) {
      const char* hash = crypt_r("not a password", setting, &data);
      if (hash != nullptr && hash[0] != '*') dummy_hash_ = hash;
    }
    if (dummy_hash_.empty()) dummy_hash_ = users_.begin()->second;  // still one hash of a configured cost
  }
}

BasicAuth::Verdict BasicAuth::verdict(bool ok, const std::string& authorization, const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ok) {
    if (verified_.size() >= kMaxVerified) verified_.clear();
    verified_.push_back(authorization);
    return Verdict::kOk;
  }
  if (failures_.size() >= kMaxClients) failures_.clear();
  auto& entry = failures_[client];
  if (entry.at == std::chrono::steady_clock::time_point{}) entry = {kBurst, std::chrono::steady_clock::now()};
  entry.tokens -= 1;
  if (authorization.empty()) {
    ++missing_;
    return Verdict::kMissing;
  }
  ++wrong_;
  return Verdict::kWrong;
}

bool BasicAuth::hash_ok(const std::string& authorization) const {
  const std::optional<std::string> basic = decode_basic(authorization);
  if (!basic) return false;
  const std::string& decoded = *basic;
  const std::size_t colon = decoded.find(':');
  const auto user = colon == std::string::npos ? users_.end() : users_.find(decoded.substr(0, colon));
  // An unknown name pays the same hash as a known one (against a hash nobody's password makes).
  const bool known = user != users_.end();
  const bool match =
      hash_matches(colon == std::string::npos ? "" : decoded.substr(colon + 1), known ? user->second : dummy_hash_);
  return known && match;
}

bool BasicAuth::check(const std::string& authorization, const std::string& client, Verdict* now,
                      std::function<void(Verdict)> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!authorization.empty())
      for (const auto& header : verified_)
        if (constant_time_equal(authorization, header)) {
          *now = Verdict::kOk;
          return true;
        }
    auto bucket = failures_.find(client);
    if (bucket != failures_.end()) {
      const auto at = std::chrono::steady_clock::now();
      const double elapsed = std::chrono::duration<double>(at - bucket->second.at).count();
      bucket->second.tokens = std::min(kBurst, bucket->second.tokens + elapsed * kPerSecond);
      bucket->second.at = at;
      if (bucket->second.tokens < 1) {
        ++rate_limited_;
        *now = Verdict::kRateLimited;
        return true;
      }
    }
  }
  if (authorization.empty() || users_.empty()) {
    *now = verdict(!authorization.empty() && constant_time_equal(authorization, expected_), authorization, client);
    return true;
  }
  const bool queued = pool_.submit([this, authorization, client, done = std::move(done)] {
    done(verdict(hash_ok(authorization), authorization, client));
  });
  if (queued) return false;
  ++busy_;
  *now = Verdict::kBusy;
  return true;
}

std::string BasicAuth::failure_metrics() const {
  const char* name = observer_families::family(observer_families::Id::kHttpAuthFailures).name;
  std::string text = observer_families::text_header(observer_families::Id::kHttpAuthFailures);
  const std::pair<const char*, std::uint64_t> rows[] = {{"missing", missing_.load()},
                                                        {"wrong", wrong_.load()},
                                                        {"rate_limited", rate_limited_.load()},
                                                        {"busy", busy_.load()}};
  for (const auto& [reason, count] : rows)
    text += std::string(name) + "{reason=\"" + reason + "\"} " + std::to_string(count) + "\n";
  return text;
}

}  // namespace dwcp::http
