// The dwcp_system_* families derived without touching DWCP: which features' functions exist and
// are probed (config_enabled), what is observed of each component (component_health), and the
// binary's Go build info (version_info). One place, used by the agent and the parity test.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "dwcp_observer/model.h"

namespace dwcp::agent {

struct BinaryVersion {
  std::string version;     // version of the module holding the profile package (goelf::module_version_of)
  std::string git_commit;  // vcs.revision
  std::string build_date;  // vcs.time
};

// Events describing a freshly attached target: every feature of the profile enabled or not,
// each component healthy when one of its features is live (else down), and the version.
std::vector<Event> attached_state_events(const std::set<std::string>& profile_features,
                                         const std::set<std::string>& live_features, const BinaryVersion& version);

// Events for a target that exited: its streams end and every component is down.
std::vector<Event> detached_state_events();

}  // namespace dwcp::agent
