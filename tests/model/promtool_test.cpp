// The exposition of a model fed with the whole parity scenario passes `promtool check metrics`
// with no complaint but one: the catalogue's own name dwcp_hde_baseline_count ends in "_count",
// which promlint reserves for histograms and summaries. The name is kept (dashboards and rules
// of the original use it); that exact finding is the only one accepted.
#include "dwcp_observer/model.h"
#include "scenario.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cstdio>
#include <fstream>

namespace dwcp {
namespace {

TEST(Promtool, CheckMetricsIsClean) {
  auto registry = std::make_shared<ModelRegistry>();
  ModelOptions a = testing::parity_model_options();
  a.target_labels = {{"target", "a"}};
  ModelOptions b = testing::parity_model_options();
  b.target_labels = {{"target", "b"}};
  MetricsModel model_a(registry, a);
  MetricsModel model_b(registry, b);
  for (const Event& event : testing::parity_scenario()) {
    model_a.apply(event);
    model_b.apply(event);
  }
  model_a.note_invalid("negative_value");
  const std::string path = ::testing::TempDir() + "dwcp_promtool_input.prom";
  std::ofstream(path) << render_text({registry});

  const std::string command = std::string(DWCP_PROMTOOL) + " check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status));
  const std::string inherited =
      "dwcp_hde_baseline_count non-histogram and non-summary metrics should not have \"_count\" "
      "suffix\n";
  // promtool exits 3 for lint findings, 1 for a parse error.
  if (output == inherited) {
    EXPECT_EQ(WEXITSTATUS(status), 3);
  } else {
    EXPECT_EQ(WEXITSTATUS(status), 0) << output;
    EXPECT_EQ(output, "") << "promtool found problems in " << path;
  }
}

}  // namespace
}  // namespace dwcp
