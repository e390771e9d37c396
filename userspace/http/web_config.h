// --web.config.file, in the format of Prometheus's exporter-toolkit (node_exporter and friends):
//
//   tls_server_config:
//     cert_file: server.crt          # relative paths are relative to the config file
//     key_file: server.key
//     client_ca_file: ca.crt         # optional
//     client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), RequestClientCert,
//                                    # RequireAnyClientCert, VerifyClientCertIfGiven
//     min_version: TLS12             # TLS12 (default) or TLS13; max_version likewise
//     cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...]   # Go's names, TLS 1.2 suites
//     curve_preferences: [X25519, CurveP256]                       # Go's names
//     prefer_server_cipher_suites: true
//   http_server_config:
//     http2: true                    # accepted; HTTP/1.1 is served either way
//     headers: {X-Frame-Options: deny, ...}   # exporter-toolkit's five security headers
//   basic_auth_users:
//     prometheus: $2y$10$...         # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n'), cost <= 12
//
// Unknown keys are refused, so a typo cannot silently turn TLS or auth off. Also the legacy
// --basic-auth-file (one line user:password), refused unless owned by root and not readable by
// others.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "dwcp_observer/http_server.h"
#include "dwcp_observer/result.h"

namespace dwcp::http {

struct WebConfig {
  TlsOptions tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::map<std::string, std::string> headers;           // http_server_config.headers
  bool http2 = true;                                    // http_server_config.http2 (not served: HTTP/1.1)
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
