// docs/metrics.md lists exactly the families the model registers: name, type, labels. Rows of
// any table whose first cell is a `dwcp_...` name are read; the dwcp_observer_* families the
// agent exports are documented there too and only need to be well-formed.
#include "dwcp_observer/model.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace dwcp {
namespace {

struct DocRow {
  std::string type;
  std::vector<std::string> labels;
};

std::string trim(std::string s) {
  const char* blanks = " \t`";
  s.erase(0, s.find_first_not_of(blanks));
  s.erase(s.find_last_not_of(blanks) + 1);
  return s;
}

std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line.substr(1));
  for (std::string cell; std::getline(in, cell, '|');) cells.push_back(trim(cell));
  return cells;
}

std::vector<std::string> labels_of(const std::string& cell) {
  std::vector<std::string> labels;
  std::stringstream in(cell);
  for (std::string label; std::getline(in, label, ',');) {
    label = trim(label);
    if (!label.empty() && label != "-" && label != "—") labels.push_back(label);
  }
  return labels;
}

std::map<std::string, DocRow> documented_families() {
  std::ifstream file(DWCP_METRICS_DOC);
  EXPECT_TRUE(file) << "cannot read " << DWCP_METRICS_DOC;
  std::map<std::string, DocRow> rows;
  for (std::string line; std::getline(file, line);) {
    if (line.rfind("| `dwcp_", 0) != 0) continue;
    const auto cells = cells_of(line);
    if (cells.size() < 3) {
      ADD_FAILURE() << "short row: " << line;
      continue;
    }
    EXPECT_EQ(rows.count(cells[0]), 0u) << cells[0] << " documented twice";
    rows[cells[0]] = {cells[1], labels_of(cells[2])};
  }
  return rows;
}

TEST(MetricsDoc, ListsExactlyTheModelFamiliesWithTypesAndLabels) {
  const auto rows = documented_families();
  std::set<std::string> documented_dwcp, model_dwcp;
  for (const auto& [name, row] : rows)
    if (name.rfind("dwcp_observer_", 0) != 0) documented_dwcp.insert(name);
  for (const FamilyInfo& family : model_families()) {
    if (family.name.rfind("dwcp_observer_", 0) != 0) model_dwcp.insert(family.name);
    auto it = rows.find(family.name);
    if (it == rows.end()) {
      ADD_FAILURE() << family.name << " is registered by the model but not in docs/metrics.md";
      continue;
    }
    EXPECT_EQ(it->second.type, family.type) << family.name;
    EXPECT_EQ(it->second.labels, family.labels) << family.name;
  }
  EXPECT_EQ(documented_dwcp, model_dwcp);
  EXPECT_EQ(model_dwcp.size(), 21u);
}

TEST(MetricsDoc, AgentFamiliesAreWellFormed) {
  const std::set<std::string> types = {"counter", "gauge", "histogram"};
  std::size_t observer = 0;
  for (const auto& [name, row] : documented_families()) {
    EXPECT_EQ(types.count(row.type), 1u) << name << " has type " << row.type;
    if (row.type == "counter") {
      EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
    }
    if (name.rfind("dwcp_observer_", 0) == 0) ++observer;
  }
  EXPECT_GE(observer, 15u);  // the agent's self-metrics, listed in the brief
}

}  // namespace
}  // namespace dwcp
