// The web config parser (exporter-toolkit format) and the logger's line format, without root.
#include <gtest/gtest.h>

#include "http/web_config.h"
#include "log/log.h"

namespace dwcp {
namespace {

const char* kHash = "$2y$04$A2a41N2qkiZjYtSYEZW//.FJhDzrCJOD5pn.gg.mz585Bp8eimJFK";  // bcrypt of "x", cost 4

TEST(WebConfig, FullConfigResolvesRelativePaths) {
  auto config = http::parse_web_config(std::string("tls_server_config:\n  cert_file: a.crt\n  key_file: /abs/a.key\n"
                                                   "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
                                                   "basic_auth_users:\n  prom: '") + kHash + "'\n",
                                       "/etc/dwcp-observer");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->tls.cert_file, "/etc/dwcp-observer/a.crt");
  EXPECT_EQ(config->tls.key_file, "/abs/a.key");
  EXPECT_EQ(config->tls.client_ca_file, "/etc/dwcp-observer/ca.crt");
  EXPECT_EQ(config->tls.client_auth_type, "RequireAndVerifyClientCert");
  ASSERT_EQ(config->basic_auth_users.size(), 1u);
  EXPECT_EQ(config->basic_auth_users.at("prom"), kHash);
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
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n", "not supported"},
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
  const std::string line = log::format_line(log::Level::kWarn, "attached to /tmp/evil\nts=x level=error msg=forged",
                                            {{"exe", "a b\"c"}, {"pid", "12"}}, log::Format::kLogfmt,
                                            "2026-01-02T03:04:05.006Z");
  EXPECT_EQ(line,
            "ts=2026-01-02T03:04:05.006Z level=warn msg=\"attached to /tmp/evil\\nts=x level=error msg=forged\" "
            "exe=\"a b\\\"c\" pid=12\n");
}

TEST(Log, JsonEscapesControlCharacters) {
  const std::string line = log::format_line(log::Level::kError, std::string("bad\x01\"\\", 6), {{"k", "v\tw"}},
                                            log::Format::kJson, "T");
  EXPECT_EQ(line, "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"bad\\u0001\\\"\\\\\",\"k\":\"v\\tw\"}\n");
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

}  // namespace
}  // namespace dwcp
