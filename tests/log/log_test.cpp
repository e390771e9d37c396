// The agent's one logger (log/log.h): one call is one line in logfmt and JSON, levels and formats
// parse, a Logger's lines carry the level its caller said, and without a sink it writes the process
// log. No root.
#include "log/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace dwcp {
namespace {

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
