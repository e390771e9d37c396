#include "agent/system_state.h"

namespace dwcp::agent {
namespace {

// DWCP's components as the system families name them; delta encoding is part of HDE.
const char* const kComponents[] = {"amst", "hde", "migration", "federation"};

std::string component_of_feature(const std::string& feature) { return feature == "delta_encoding" ? "hde" : feature; }

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

}  // namespace

std::vector<Event> attached_state_events(const std::set<std::string>& profile_features,
                                         const std::set<std::string>& live_features, const BinaryVersion& version) {
  std::vector<Event> events;
  for (const auto& feature : profile_features)
    events.push_back(FeatureToggle{feature, live_features.count(feature) > 0});
  for (const char* component : kComponents) {
    bool live = false;
    for (const auto& feature : live_features) live |= component_of_feature(feature) == component;
    events.push_back(ComponentHealth{component, live ? 2 : 0});
  }
  events.push_back(
      VersionInfo{or_unknown(version.version), or_unknown(version.git_commit), or_unknown(version.build_date)});
  return events;
}

std::vector<Event> detached_state_events() {
  std::vector<Event> events{AllStreamsClosed{}};
  for (const char* component : kComponents) events.push_back(ComponentHealth{component, 0});
  return events;
}

}  // namespace dwcp::agent
