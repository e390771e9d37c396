#include "http/web_config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "http/basic_auth.h"
#include "http/tls_context.h"

namespace dwcp::http {
namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;  // a web config is a few lines

// Reads a small file whole, refusing anything larger than `limit`.
Result<std::string> read_small_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > limit) return Error{path + " is larger than " + std::to_string(limit) + " bytes"};
  return text;
}

std::string resolve(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file.front() == '/' || base_dir.empty()) return file;
  return base_dir + "/" + file;
}

std::vector<std::string> string_list(const YAML::Node& node, const std::string& key) {
  if (!node.IsSequence()) throw YAML::Exception(node.Mark(), key + " must be a list");
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

// exporter-toolkit's header rules: only these five, some with fixed values.
Result<void> check_header(const std::string& name, const std::string& value) {
  static const char* kAllowed[] = {"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
                                   "X-XSS-Protection", "Content-Security-Policy"};
  bool known = false;
  for (const char* allowed : kAllowed) known = known || name == allowed;
  if (!known)
    return Error{"http_server_config.headers." + name +
                 " is not supported (Strict-Transport-Security, "
                 "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)"};
  if (value.find_first_of("\r\n") != std::string::npos)
    return Error{"http_server_config.headers." + name + " has a line break"};
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "X-Content-Type-Options" && lower != "nosniff")
    return Error{"http_server_config.headers.X-Content-Type-Options must be nosniff"};
  if (name == "X-Frame-Options" && lower != "deny" && lower != "sameorigin")
    return Error{"http_server_config.headers.X-Frame-Options must be deny or sameorigin"};
  return {};
}

Result<WebConfig> parse_tls(const YAML::Node& value, const std::string& base_dir, WebConfig config) {
  TlsOptions& tls = config.tls;
  for (const auto& entry : value) {
    const std::string name = entry.first.as<std::string>();
    const YAML::Node& item = entry.second;
    if (name == "cert_file")
      tls.cert_file = resolve(base_dir, item.as<std::string>());
    else if (name == "key_file")
      tls.key_file = resolve(base_dir, item.as<std::string>());
    else if (name == "client_ca_file")
      tls.client_ca_file = resolve(base_dir, item.as<std::string>());
    else if (name == "client_auth_type")
      tls.client_auth_type = item.as<std::string>();
    else if (name == "min_version")
      tls.min_version = item.as<std::string>();
    else if (name == "max_version")
      tls.max_version = item.as<std::string>();
    else if (name == "cipher_suites")
      tls.cipher_suites = string_list(item, name);
    else if (name == "curve_preferences")
      tls.curve_preferences = string_list(item, name);
    else if (name == "prefer_server_cipher_suites")
      tls.prefer_server_cipher_suites = item.as<bool>();
    else
      return Error{"tls_server_config." + name +
                   " is not supported (cert_file, key_file, client_ca_file, "
                   "client_auth_type, min_version, max_version, cipher_suites, curve_preferences, "
                   "prefer_server_cipher_suites)"};
  }
  if (tls.client_auth_type.empty()) tls.client_auth_type = "NoClientCert";
  if (tls.min_version.empty()) tls.min_version = "TLS12";
  return config;
}

}  // namespace

Result<WebConfig> parse_web_config(const std::string& yaml, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Error{std::string("not YAML: ") + e.what()};
  }
  WebConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap())
    return Error{"expected a mapping with tls_server_config, http_server_config and/or basic_auth_users"};
  try {
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (value.IsNull()) continue;
      if (key == "tls_server_config") {
        if (!value.IsMap()) return Error{"tls_server_config must be a mapping"};
        auto parsed = parse_tls(value, base_dir, config);
        if (!parsed) return parsed;
        config = *parsed;
      } else if (key == "http_server_config") {
        if (!value.IsMap()) return Error{"http_server_config must be a mapping"};
        for (const auto& item : value) {
          const std::string name = item.first.as<std::string>();
          if (name == "http2") {
            config.http2 = item.second.as<bool>();
          } else if (name == "headers") {
            if (!item.second.IsMap()) return Error{"http_server_config.headers must map names to values"};
            for (const auto& header : item.second) {
              const std::string header_name = header.first.as<std::string>();
              const std::string header_value = header.second.as<std::string>();
              if (auto usable = check_header(header_name, header_value); !usable) return usable.failure();
              config.headers[header_name] = header_value;
            }
          } else {
            return Error{"http_server_config." + name + " is not supported (http2, headers)"};
          }
        }
      } else if (key == "basic_auth_users") {
        if (!value.IsMap()) return Error{"basic_auth_users must map user names to bcrypt hashes"};
        for (const auto& user : value) {
          const std::string name = user.first.as<std::string>();
          const std::string hash = user.second.as<std::string>();
          if (name.empty() || name.find(':') != std::string::npos)
            return Error{"basic_auth_users: user name \"" + name + "\" is empty or has a colon"};
          const int cost = bcrypt_cost(hash);
          if (cost < 0)
            return Error{"basic_auth_users." + name +
                         " is not a bcrypt hash ($2y$/$2b$, 60 characters): make one with "
                         "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`"};
          if (cost > kMaxBcryptCost)
            return Error{"basic_auth_users." + name + " has bcrypt cost " + std::to_string(cost) + ", above " +
                         std::to_string(kMaxBcryptCost) +
                         ": every guess would cost the server that much CPU (use "
                         "`htpasswd -nBC 10`)"};
          config.basic_auth_users[name] = hash;
        }
      } else {
        return Error{key + " is not supported (tls_server_config, http_server_config, basic_auth_users)"};
      }
    }
  } catch (const YAML::Exception& e) {
    return Error{std::string("unexpected value: ") + e.what()};
  }
  const TlsOptions& tls = config.tls;
  if (tls.cert_file.empty() != tls.key_file.empty())
    return Error{"tls_server_config needs both cert_file and key_file"};
  const std::string& mode = tls.client_auth_type;
  const bool verifies = mode == "RequireAndVerifyClientCert" || mode == "VerifyClientCertIfGiven";
  if (verifies && tls.client_ca_file.empty())
    return Error{"tls_server_config.client_auth_type " + mode + " needs client_ca_file"};
  // exporter-toolkit refuses a CA nobody would use: the operator meant to check certificates.
  if (!tls.client_ca_file.empty() && mode == "NoClientCert")
    return Error{
        "tls_server_config.client_ca_file is set but client_auth_type is NoClientCert: set "
        "client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"};
  if (tls.cert_file.empty() && !tls.client_ca_file.empty())
    return Error{"tls_server_config.client_ca_file without cert_file and key_file"};
  if (Result<void> usable = check_tls_options(tls); !usable) return Error{"tls_server_config: " + usable.error()};
  return config;
}

Result<WebConfig> load_web_config(const std::string& path) {
  auto text = read_small_file(path, kMaxConfigBytes);
  if (!text) return Error{"--web.config.file: " + text.error()};
  const std::size_t slash = path.rfind('/');
  auto config = parse_web_config(*text, slash == std::string::npos ? "." : path.substr(0, slash));
  if (!config) return Error{"--web.config.file " + path + ": " + config.error()};
  for (const std::string* file : {&config->tls.cert_file, &config->tls.key_file, &config->tls.client_ca_file})
    if (!file->empty() && ::access(file->c_str(), R_OK) != 0)
      return Error{"--web.config.file " + path + ": cannot read " + *file + ": " + std::strerror(errno)};
  return config;
}

Result<PlainCredentials> load_basic_auth_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error{"cannot read --basic-auth-file " + path + ": " + std::strerror(errno)};
  // The file holds a plaintext password: others must not read it, and only root may change it.
  if (st.st_uid != 0 || (st.st_mode & 077) != 0)
    return Error{"--basic-auth-file " + path + " must be owned by root with mode 0600 or 0400 (chown root: " + path +
                 "; chmod 0600 " + path + "), or use --web.config.file with a bcrypt hash"};
  auto text = read_small_file(path, 4096);
  if (!text) return Error{"cannot read --basic-auth-file " + path + ": " + text.error()};
  std::string line = text->substr(0, text->find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size())
    return Error{"--basic-auth-file " + path + " must hold one line `user:password`"};
  return PlainCredentials{line.substr(0, colon), line.substr(colon + 1)};
}

}  // namespace dwcp::http
