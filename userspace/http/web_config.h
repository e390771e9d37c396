// --web.config.file, in the format of Prometheus's exporter-toolkit (node_exporter and friends):
//
//   tls_server_config:
//     cert_file: server.crt          # relative paths are relative to the config file
//     key_file: server.key
//     client_ca_file: ca.crt         # optional
//     client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), VerifyClientCertIfGiven
//   basic_auth_users:
//     prometheus: $2y$10$...         # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')
//
// Unknown keys are refused, so a typo cannot silently turn TLS or auth off. Also the legacy
// --basic-auth-file (one line user:password), refused unless owned by root and not readable by
// others.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "dwcp_observer/http_server.h"
#include "goelf/result.h"

namespace dwcp::http {

struct WebConfig {
  TlsOptions tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
};

// `base_dir` resolves relative file names (the config file's directory).
Result<WebConfig> parse_web_config(const std::string& yaml, const std::string& base_dir);
Result<WebConfig> load_web_config(const std::string& path);

struct PlainCredentials {
  std::string user;
  std::string password;
};
Result<PlainCredentials> load_basic_auth_file(const std::string& path);

}  // namespace dwcp::http
