// The web config parser (http/web_config.h, exporter-toolkit format): node_exporter's keys, relative
// paths, and the refusals of what would silently weaken the server. No root.
#include "http/web_config.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace dwcp {
namespace {

const char* kHash = "$2y$04$A2a41N2qkiZjYtSYEZW//.FJhDzrCJOD5pn.gg.mz585Bp8eimJFK";  // bcrypt of "x", cost 4

TEST(WebConfig, FullConfigResolvesRelativePaths) {
  auto config =
      http::parse_web_config(std::string("tls_server_config:\n  cert_file: a.crt\n  key_file: /abs/a.key\n"
                                         "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
                                         "basic_auth_users:\n  prom: '") +
                                 kHash + "'\n",
                             "/etc/dwcp-observer");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->tls.cert_file, "/etc/dwcp-observer/a.crt");
  EXPECT_EQ(config->tls.key_file, "/abs/a.key");
  EXPECT_EQ(config->tls.client_ca_file, "/etc/dwcp-observer/ca.crt");
  EXPECT_EQ(config->tls.client_auth_type, "RequireAndVerifyClientCert");
  ASSERT_EQ(config->basic_auth_users.size(), 1u);
  EXPECT_EQ(config->basic_auth_users.at("prom"), kHash);
}

TEST(WebConfig, NodeExporterKeysForKey) {
  auto config = http::parse_web_config(
      "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS12\n  max_version: TLS13\n"
      "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305\n"
      "    - TLS_AES_128_GCM_SHA256\n  curve_preferences: [X25519, CurveP256]\n  prefer_server_cipher_suites: false\n"
      "  client_auth_type: RequireAnyClientCert\n"
      "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: "
      "nosniff\n"
      "    Strict-Transport-Security: max-age=31536000\n",
      "/etc/x");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->tls.cipher_suites.size(), 3u);
  EXPECT_EQ(config->tls.curve_preferences, (std::vector<std::string>{"X25519", "CurveP256"}));
  EXPECT_FALSE(config->tls.prefer_server_cipher_suites);
  EXPECT_EQ(config->tls.max_version, "TLS13");
  EXPECT_EQ(config->tls.client_auth_type, "RequireAnyClientCert");
  EXPECT_FALSE(config->http2);
  EXPECT_EQ(config->headers.size(), 3u);
  EXPECT_EQ(config->headers.at("X-Frame-Options"), "deny");
}

TEST(WebConfig, EmptyFileMeansPlainHttpWithoutAuth) {
  auto config = http::parse_web_config("", ".");
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->tls.cert_file.empty());
  EXPECT_TRUE(config->basic_auth_users.empty());
}

TEST(WebConfig, RefusesWhatWouldSilentlyWeakenIt) {
  const std::pair<const char*, const char*> cases[] = {
      {"basic_auth_users:\n  prom: secret\n", "not a bcrypt hash"},
      {"basic_auth_users:\n  prom: $1$abc$def\n", "not a bcrypt hash"},
      {"tls_server_config:\n  cert_file: a\n", "both cert_file and key_file"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
       "needs client_ca_file"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n", "Maybe is not one of"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_FOO]\n",
       "TLS_FOO is not a TLS 1.2 suite"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP999]\n", "CurveP999"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", "TLS12 or TLS13"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", "client_auth_type is NoClientCert"},
      {"http_server_config:\n  headers:\n    Set-Cookie: x\n", "Set-Cookie is not supported"},
      {"http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "deny or sameorigin"},
      {"http_server_config:\n  push: true\n", "http_server_config.push is not supported"},
      {"basic_auth_users:\n  prom: $2y$31$A2a41N2qkiZjYtSYEZW//.FJhDzrCJOD5pn.gg.mz585Bp8eimJFK\n",
       "cost 31, above 12"},
      {"tls_server_config:\n  cert: a\n", "tls_server_config.cert is not supported"},
      {"tls_config:\n  cert_file: a\n", "tls_config is not supported"},
      {"- a\n- b\n", "expected a mapping"},
      {"basic_auth_users: [\n", "not YAML"},
  };
  for (const auto& [text, reason] : cases) {
    auto config = http::parse_web_config(text, ".");
    ASSERT_FALSE(config) << text;
    EXPECT_NE(config.error().find(reason), std::string::npos) << text << " -> " << config.error();
  }
}

}  // namespace
}  // namespace dwcp
