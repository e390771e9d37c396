// The web config parser (exporter-toolkit format), the logger's line format and levels, without
// root. (The one error type's tests: tests/include/result_test.cpp.)
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "dwcp_observer/result.h"
#include "http/web_config.h"
#include "log/log.h"

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

TEST(Log, LogfmtQuotesAndEscapesSoOneCallIsOneLine) {
  const std::string line =
      log::format_line(log::Level::kWarn, "attached to /tmp/evil\nts=x level=error msg=forged",
                       {{"exe", "a b\"c"}, {"pid", "12"}}, log::Format::kLogfmt, "2026-01-02T03:04:05.006Z");
  EXPECT_EQ(line,
            "ts=2026-01-02T03:04:05.006Z level=warn msg=\"attached to /tmp/evil\\nts=x level=error msg=forged\" "
            "exe=\"a b\\\"c\" pid=12\n");
}

TEST(Log, JsonEscapesControlCharacters) {
  const std::string line =
      log::format_line(log::Level::kError, std::string("bad\x01\"\\", 6), {{"k", "v\tw"}}, log::Format::kJson, "T");
  EXPECT_EQ(line, "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"bad\\u0001\\\"\\\\\",\"k\":\"v\\tw\"}\n");
}

TEST(Log, NumbersAreBareInJson) {
  EXPECT_EQ(log::format_line(log::Level::kError, "bad flag", {{"exit_code", 2}}, log::Format::kJson, "T"),
            "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"bad flag\",\"exit_code\":2}\n");
  EXPECT_EQ(log::format_line(log::Level::kError, "bad flag", {{"exit_code", 2}}, log::Format::kLogfmt, "T"),
            "ts=T level=error msg=\"bad flag\" exit_code=2\n");
}

TEST(Log, LevelsAndFormatsParse) {
  log::Level level;
  log::Format format;
  EXPECT_TRUE(log::parse_level("warn", &level));
  EXPECT_EQ(level, log::Level::kWarn);
  EXPECT_FALSE(log::parse_level("verbose", &level));
  EXPECT_TRUE(log::parse_format("json", &format));
  EXPECT_EQ(format, log::Format::kJson);
  EXPECT_FALSE(log::parse_format("text", &format));
}

TEST(Logger, EveryLineCarriesTheLevelItsCallerSaid) {
  std::vector<std::pair<log::Level, std::string>> lines;
  const log::Logger logger([&](log::Level level, const std::string& line) { lines.emplace_back(level, line); });
  logger.info("attached");
  logger.warn("probe budget: sampling");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::make_pair(log::Level::kInfo, std::string("attached")));
  // The text is kept as given: no prefix decides the level any more.
  EXPECT_EQ(lines[1], std::make_pair(log::Level::kWarn, std::string("probe budget: sampling")));
}

TEST(Logger, WithoutASinkWritesTheProcessLog) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  log::configure(log::Level::kInfo, log::Format::kLogfmt, out);
  log::Logger().warn("could not drop capabilities after attach: capset: x");
  log::Logger().debug("not shown at info");
  log::configure(log::Level::kInfo, log::Format::kLogfmt, stderr);
  std::rewind(out);
  char text[512] = {};
  const std::size_t n = std::fread(text, 1, sizeof text - 1, out);
  std::fclose(out);
  const std::string written(text, n);
  EXPECT_NE(written.find("level=warn msg=\"could not drop capabilities after attach: capset: x\""), std::string::npos)
      << written;
  EXPECT_EQ(written.find("not shown"), std::string::npos) << written;
}

}  // namespace
}  // namespace dwcp
