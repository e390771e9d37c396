#include "top/exposition.h"

#include <gtest/gtest.h>

#include <cmath>

using dwcp::top::parse_exposition;

TEST(Exposition, ParsesNamesLabelsValuesAndSkipsComments) {
  auto r = parse_exposition(
      "# HELP dwcp_amst_bytes_sent_total Total bytes sent\n"
      "# TYPE dwcp_amst_bytes_sent_total counter\n"
      "dwcp_amst_bytes_sent_total{cluster=\"default\",node=\"vm\",stream_id=\"0\"} 2269441\n"
      "\n"
      "dwcp_observer_uprobe_trap_seconds 4.2025386e-05\n"
      "dwcp_amst_latency_seconds_bucket{operation=\"send\",le=\"+Inf\"} 149 1700000000000\r\n");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "dwcp_amst_bytes_sent_total");
  EXPECT_EQ((*r)[0].labels.size(), 3u);
  EXPECT_EQ((*r)[0].label("stream_id"), "0");
  EXPECT_EQ((*r)[0].label("missing"), "");
  EXPECT_DOUBLE_EQ((*r)[0].value, 2269441);
  EXPECT_DOUBLE_EQ((*r)[1].value, 4.2025386e-05);
  EXPECT_TRUE((*r)[1].labels.empty());
  EXPECT_EQ((*r)[2].label("le"), "+Inf");
  EXPECT_DOUBLE_EQ((*r)[2].value, 149);
}

TEST(Exposition, UnescapesLabelValuesAndReadsSpecialValues) {
  auto r = parse_exposition("m{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\",} NaN\nm +Inf\nm -Inf\n");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].label("a"), "q\"uote");
  EXPECT_EQ((*r)[0].label("b"), "back\\slash");
  EXPECT_EQ((*r)[0].label("c"), "new\nline");
  EXPECT_TRUE(std::isnan((*r)[0].value));
  EXPECT_TRUE(std::isinf((*r)[1].value) && (*r)[1].value > 0);
  EXPECT_TRUE(std::isinf((*r)[2].value) && (*r)[2].value < 0);
}

TEST(Exposition, MalformedLinesFailWithTheirLineNumber) {
  const char* bad[] = {
      "m{a=\"x\" 1\n",  // unterminated label set
      "m{a=\"x} 1\n",   // unterminated value
      "m{=\"x\"} 1\n",  // no label name
      "m{a=x} 1\n",     // unquoted value
      "m\n",            // no value
      "m 1x\n",         // bad value
      "m 1 2 3\n",      // trailing text
      "m 1 abc\n",      // timestamp not a number
      "9m 1\n",         // bad name
      "m{a=\"x\"}1\n",  // no blank before the value
  };
  for (const char* text : bad) {
    auto r = parse_exposition(std::string("ok 1\n") + text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().find("line 2"), std::string::npos) << r.error();
  }
}

TEST(Exposition, BoundsLineLengthAndLabelCount) {
  std::string long_line = "m{a=\"" + std::string(dwcp::top::kMaxLineBytes, 'x') + "\"} 1\n";
  EXPECT_FALSE(parse_exposition(long_line).ok());
  std::string many = "m{";
  for (std::size_t i = 0; i <= dwcp::top::kMaxLabelsPerSample; ++i) many += "l" + std::to_string(i) + "=\"v\",";
  many += "} 1\n";
  auto r = parse_exposition(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("labels"), std::string::npos);
}

TEST(Exposition, EmptyBodyHasNoSamples) {
  auto r = parse_exposition("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}
