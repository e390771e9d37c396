#include "http/web_config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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

bool is_bcrypt(const std::string& hash) {
  return hash.size() == 60 && (hash.rfind("$2a$", 0) == 0 || hash.rfind("$2b$", 0) == 0 || hash.rfind("$2y$", 0) == 0);
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
  if (!root.IsMap()) return Error{"expected a mapping with tls_server_config and/or basic_auth_users"};
  try {
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (key == "tls_server_config") {
        if (value.IsNull()) continue;
        if (!value.IsMap()) return Error{"tls_server_config must be a mapping"};
        for (const auto& tls : value) {
          const std::string name = tls.first.as<std::string>();
          const std::string text = tls.second.as<std::string>();
          if (name == "cert_file") config.tls.cert_file = resolve(base_dir, text);
          else if (name == "key_file") config.tls.key_file = resolve(base_dir, text);
          else if (name == "client_ca_file") config.tls.client_ca_file = resolve(base_dir, text);
          else if (name == "client_auth_type") config.tls.client_auth_type = text;
          else if (name == "min_version" && (text == "TLS12" || text == "TLS13")) continue;  // we never go below 1.2
          else return Error{"tls_server_config." + name + " is not supported (cert_file, key_file, client_ca_file, client_auth_type, min_version)"};
        }
      } else if (key == "basic_auth_users") {
        if (value.IsNull()) continue;
        if (!value.IsMap()) return Error{"basic_auth_users must map user names to bcrypt hashes"};
        for (const auto& user : value) {
          const std::string name = user.first.as<std::string>();
          const std::string hash = user.second.as<std::string>();
          if (name.empty() || name.find(':') != std::string::npos)
            return Error{"basic_auth_users: user name \"" + name + "\" is empty or has a colon"};
          if (!is_bcrypt(hash))
            return Error{"basic_auth_users." + name + " is not a bcrypt hash ($2y$/$2b$, 60 characters): make one with "
                         "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`"};
          config.basic_auth_users[name] = hash;
        }
      } else {
        return Error{key + " is not supported (tls_server_config, basic_auth_users)"};
      }
    }
  } catch (const YAML::Exception& e) {
    return Error{std::string("unexpected value: ") + e.what()};
  }
  const TlsOptions& tls = config.tls;
  if (tls.cert_file.empty() != tls.key_file.empty())
    return Error{"tls_server_config needs both cert_file and key_file"};
  if (tls.client_auth_type != "NoClientCert" && tls.client_auth_type != "RequireAndVerifyClientCert" &&
      tls.client_auth_type != "VerifyClientCertIfGiven")
    return Error{"tls_server_config.client_auth_type " + tls.client_auth_type +
                 " is not supported (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"};
  if (tls.client_auth_type != "NoClientCert" && tls.client_ca_file.empty())
    return Error{"tls_server_config.client_auth_type " + tls.client_auth_type + " needs client_ca_file"};
  if (tls.cert_file.empty() && !tls.client_ca_file.empty())
    return Error{"tls_server_config.client_ca_file without cert_file and key_file"};
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
  if (::stat(path.c_str(), &st) != 0) return Error{"cannot read --basic-auth-file " + path + ": " + std::strerror(errno)};
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
