// Parity: the scenario fed as events to a MetricsModel and driven through the hook API yields
// identical dwcp_* series.
#include "dwcp_observer/hooks.h"
#include "dwcp_observer/model.h"
#include "scenario.h"

#include <gtest/gtest.h>

namespace dwcp {
namespace {

TEST(Parity, ModelEventsAndHookCallsGiveIdenticalSeries) {
  auto registry = std::make_shared<ModelRegistry>();
  MetricsModel model(registry, testing::parity_model_options());
  for (const Event& event : testing::parity_scenario()) model.apply(event);
  const auto from_events = testing::dwcp_series_lines(render_text({registry}));

  Status status = InitializeMetrics(testing::parity_hook_config());
  ASSERT_TRUE(status.ok) << status.message;
  testing::drive_parity_scenario_through_hooks();
  const auto from_hooks = testing::dwcp_series_lines(MetricsText());
  ShutdownMetrics();

  ASSERT_GT(from_events.size(), 100u);  // the scenario touches every family
  EXPECT_EQ(from_events, from_hooks);
  for (std::size_t i = 0; i < std::min(from_events.size(), from_hooks.size()); ++i)
    if (from_events[i] != from_hooks[i]) {
      ADD_FAILURE() << "first difference:\n  events: " << from_events[i] << "\n  hooks:  " << from_hooks[i];
      break;
    }
  // Every one of the 21 families has at least one series in the scenario.
  std::size_t count = 0;
  const char* const* names = dwcp_family_names(&count);
  for (std::size_t i = 0; i < count; ++i) {
    bool found = false;
    for (const auto& line : from_events) found = found || line.rfind(names[i], 0) == 0;
    EXPECT_TRUE(found) << names[i] << " has no series in the parity scenario";
  }
}

}  // namespace
}  // namespace dwcp
