// The catalogue of the agent's own families (model/observer_families.h) against everything that
// exports one and everything that names one: each exporter's families are rows with the same
// type, help and labels, and every row is exported; docs/metrics.md documents exactly the rows;
// scripts/verify.sh checks exactly the rows every agent exports; the rules, dashboards, docs,
// scripts and dwcp-top name no family the table lacks.
#include "model/observer_families.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "agent/follow_policy.h"
#include "agent/observer_metrics.h"
#include "agent/stream_reader.h"
#include "agent/stream_sockets.h"
#include "dwcp_observer/model.h"
#include "http/basic_auth.h"

namespace dwcp::observer_families {
namespace {

struct Seen {
  std::string type;
  std::string help;
  std::set<std::set<std::string>> label_sets;  // label names of each sample
};

const char* type_of(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    default:
      return "other";
  }
}

void take(const std::vector<prometheus::MetricFamily>& families, std::map<std::string, Seen>* seen) {
  for (const auto& family : families) {
    if (family.name.rfind("dwcp_observer_", 0) != 0) continue;
    Seen& s = (*seen)[family.name];
    s.type = type_of(family.type);
    s.help = family.help;
    for (const auto& metric : family.metric) {
      std::set<std::string> names;
      for (const auto& label : metric.label) names.insert(label.name);
      s.label_sets.insert(names);
    }
  }
}

// The text format as the HTTP server writes the auth counter: HELP, TYPE, samples.
void take_text(const std::string& text, std::map<std::string, Seen>* seen) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, std::regex("# HELP (\\S+) (.*)"))) {
      (*seen)[m[1]].help = m[2];
    } else if (std::regex_match(line, m, std::regex("# TYPE (\\S+) (\\S+)"))) {
      (*seen)[m[1]].type = m[2];
    } else if (std::regex_match(line, m, std::regex("(\\w+)\\{(.*)\\} \\S+"))) {
      std::set<std::string> names;
      const std::string labels = m[2];
      static const std::regex label("(\\w+)=\"");
      for (std::sregex_iterator it(labels.begin(), labels.end(), label), end; it != end; ++it) names.insert((*it)[1]);
      (*seen)[m[1]].label_sets.insert(names);
    }
  }
}

// What every exporter of the agent and the HTTP server exports once a target is attached.
std::map<std::string, Seen> exported() {
  std::map<std::string, Seen> seen;
  agent::ObserverMetrics metrics(nullptr, {"send", "receive"});
  metrics.set_target({1, "dwcp", true, {}}, 3);
  metrics.set_probe_states(1, {{"send", "attached"}});
  take(metrics.Collect(), &seen);

  agent::SessionMetrics sessions;
  (void)sessions.target(1);
  take(sessions.registry()->Collect(), &seen);

  prometheus::Registry registry;
  agent::ConsistencyMetrics consistency(registry);
  (void)consistency.target(1);
  take(registry.Collect(), &seen);

  agent::RefusalLog refusals(log::Logger([](log::Level, const std::string&) {}));
  take(refusals.Collect(), &seen);

  http::BasicAuth auth({}, "user", "password", 1, 1);
  take_text(auth.failure_metrics(), &seen);

  for (const FamilyInfo& family : model_families()) {
    if (family.name.rfind("dwcp_observer_", 0) != 0) continue;
    Seen& s = seen[family.name];
    s.type = family.type;
    s.help = family.help;
    s.label_sets.insert(std::set<std::string>(family.labels.begin(), family.labels.end()));
  }
  return seen;
}

TEST(ObserverFamilies, EveryExportedFamilyIsARowWithItsTypeHelpAndLabels) {
  std::map<std::string, const Family*> rows;
  for (const Family& f : families()) {
    EXPECT_TRUE(rows.emplace(f.name, &f).second) << f.name << " twice in the table";
    const std::string name = f.name;
    EXPECT_EQ(f.type == Type::kCounter, name.substr(name.size() - 6) == "_total") << name;
  }
  const auto seen = exported();
  for (const auto& [name, s] : seen) {
    auto row = rows.find(name);
    if (row == rows.end()) {
      ADD_FAILURE() << name << " is exported but not in model/observer_families.cpp";
      continue;
    }
    const Family& f = *row->second;
    EXPECT_EQ(s.type, type_name(f.type)) << name;
    EXPECT_EQ(s.help, f.help) << name;
    const std::set<std::string> labels(f.labels.begin(), f.labels.end());
    for (const auto& sample_labels : s.label_sets) EXPECT_EQ(sample_labels, labels) << name;
  }
  for (const Family& f : families()) {
    // The kernel's mechanisms are known once a BPF session is open (not here).
    if (std::string(f.name) == family(Id::kKernelFeature).name) continue;
    auto it = seen.find(f.name);
    EXPECT_TRUE(it != seen.end() && !it->second.label_sets.empty())
        << f.name << " is in the table but nothing exports it (with samples)";
  }
}

TEST(ObserverFamilies, HelpSaysTheAgentsOwnBounds) {
  EXPECT_NE(
      std::string(family(Id::kAmstSessionsTruncated).help).find("(" + std::to_string(agent::kMaxReadStreams) + ")"),
      std::string::npos);
  EXPECT_NE(std::string(family(Id::kAmstStreamsUntracked).help).find(std::to_string(agent::kMaxTrackedStreams)),
            std::string::npos);
}

TEST(ObserverFamilies, TextHeaderIsWhatTheTextFormatSays) {
  EXPECT_EQ(text_header(Id::kTargetsAttached),
            "# HELP dwcp_observer_targets_attached Targets with an attached DWCP process now (0: serving, observing "
            "nothing)\n# TYPE dwcp_observer_targets_attached gauge\n");
}

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The parts of `text` between separators, without blanks and backquotes.
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, separator);) {
    part.erase(0, part.find_first_not_of(" \t`"));
    part.erase(part.find_last_not_of(" \t`") + 1);
    out.push_back(part);
  }
  return out;
}

// A labels cell: "pid, direction"; a dash or nothing for none.
std::vector<std::string> labels_of(const std::string& cell) {
  std::vector<std::string> out;
  for (const std::string& label : split(cell, ','))
    if (!label.empty() && label != "-" && label != "—" && label != "–") out.push_back(label);
  return out;
}

TEST(ObserverFamilies, DocsMetricsListsExactlyTheRows) {
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> documented;  // name -> type, labels
  std::istringstream doc(read(std::filesystem::path(DWCP_SOURCE_DIR) / "docs/metrics.md"));
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("| `dwcp_observer_", 0) != 0) continue;
    const auto cells = split(line.substr(1), '|');
    ASSERT_GE(cells.size(), 3u) << line;
    documented[cells[0]] = {cells[1], labels_of(cells[2])};
  }
  for (const Family& f : families()) {
    auto it = documented.find(f.name);
    if (it == documented.end()) {
      ADD_FAILURE() << f.name << " is not documented in docs/metrics.md";
      continue;
    }
    EXPECT_EQ(it->second.first, type_name(f.type)) << f.name;
    EXPECT_EQ(it->second.second, f.labels) << f.name;
    documented.erase(it);
  }
  for (const auto& [name, row] : documented) ADD_FAILURE() << name << " is in docs/metrics.md but not in the table";
}

TEST(ObserverFamilies, VerifyChecksEveryFamilyEveryAgentExports) {
  const std::string script = read(std::filesystem::path(DWCP_SOURCE_DIR) / "scripts/verify.sh");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("OBSERVER_FAMILIES=\"([^\"]*)\"")));
  std::set<std::string> listed;
  std::istringstream names(m[1].str());
  for (std::string name; names >> name;) listed.insert(name);
  std::set<std::string> always;
  for (const Family& f : families())
    if (f.presence == Presence::kAlways) always.insert(f.name);
  EXPECT_EQ(listed, always) << "scripts/verify.sh's OBSERVER_FAMILIES";
  // Its summary line counts them.
  EXPECT_NE(script.find("all " + std::to_string(always.size()) + " dwcp_observer_* families exposed"),
            std::string::npos);
}

TEST(ObserverFamilies, RulesDashboardsDocsAndToolsNameNoOtherFamily) {
  std::set<std::string> rows;
  for (const Family& f : families()) rows.insert(f.name);
  const std::filesystem::path root(DWCP_SOURCE_DIR);
  const std::regex token("dwcp_observer_[a-z0-9_]*[a-z0-9]\\b(?!_|\\*)");
  std::size_t files = 0;
  for (const char* dir : {"configs", "dashboards", "docs", "scripts", "tests/rules", "userspace/top"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      ++files;
      const std::string text = read(entry.path());
      for (std::sregex_iterator it(text.begin(), text.end(), token), end; it != end; ++it) {
        const std::string name = it->str();
        EXPECT_EQ(rows.count(name), 1u) << entry.path().lexically_relative(root) << " names " << name;
      }
    }
  }
  EXPECT_GT(files, 10u);
}

}  // namespace
}  // namespace dwcp::observer_families
