#include "agent/identity.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/process.h"

namespace dwcp::agent {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool is_container_id(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

// "cri-containerd-<id>.scope" -> {"containerd", id}; a bare 64-hex component (cgroupfs driver)
// -> {"", id}.
std::optional<std::pair<std::string, std::string>> container_of(const std::string& component) {
  static const std::pair<const char*, const char*> kPrefixes[] = {
      {"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-", "crio"}, {"libpod-", "libpod"}};
  if (is_container_id(component)) return std::make_pair(std::string(), component);
  if (!ends_with(component, ".scope")) return std::nullopt;
  for (const auto& [prefix, runtime] : kPrefixes) {
    if (!starts_with(component, prefix)) continue;
    std::string id = component.substr(std::string(prefix).size());
    id.resize(id.size() - 6);  // ".scope"
    if (is_container_id(id)) return std::make_pair(std::string(runtime), id);
  }
  return std::nullopt;
}

// "kubepods-besteffort-pod<uid_with_underscores>.slice" (systemd driver) or "pod<uid>" (cgroupfs).
std::string pod_uid_of(const std::string& component) {
  std::string uid;
  if (starts_with(component, "kubepods") && ends_with(component, ".slice")) {
    const auto at = component.rfind("-pod");
    if (at == std::string::npos) return "";
    uid = component.substr(at + 4, component.size() - at - 4 - 6);
    std::replace(uid.begin(), uid.end(), '_', '-');
  } else if (starts_with(component, "pod")) {
    uid = component.substr(3);
  }
  const bool shaped = uid.size() == 36 && std::all_of(uid.begin(), uid.end(), [](unsigned char c) {
                        return std::isxdigit(c) != 0 || c == '-';
                      });
  return shaped ? uid : "";
}

std::string file_name(std::string path) {
  static const std::string kDeleted = " (deleted)";
  if (ends_with(path, kDeleted)) path.resize(path.size() - kDeleted.size());
  return path.substr(path.rfind('/') + 1);
}

}  // namespace

CgroupScope parse_cgroup(const std::string& proc_pid_cgroup) {
  // cgroup v2 ("0::/path"); on v1 or hybrid hosts whose unified tree is unused, the systemd one.
  std::string unified, systemd, other;
  std::istringstream in(proc_pid_cgroup);
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (line.compare(0, first, "0") == 0 && controllers.empty())
      unified = path;
    else if (controllers == "name=systemd")
      systemd = path;
    else if (other.empty() || other == "/")
      other = path;
  }
  CgroupScope scope;
  for (const std::string& candidate : {unified, systemd, other})
    if (!candidate.empty() && candidate != "/") {
      scope.path = candidate;
      break;
    }
  std::istringstream parts(scope.path);
  std::string previous;
  for (std::string component; std::getline(parts, component, '/');) {
    if (component.empty() || component == "..") continue;
    if (auto uid = pod_uid_of(component); !uid.empty()) scope.pod_uid = uid;
    if (auto container = container_of(component)) {
      scope.runtime = !container->first.empty() ? container->first : previous == "docker" ? "docker" : "";
      scope.container_id = container->second;
    }
    if (ends_with(component, ".service")) scope.systemd_unit = component;
    previous = component;
  }
  if (!scope.container_id.empty() || !scope.pod_uid.empty()) scope.systemd_unit.clear();
  return scope;
}

std::optional<PodNames> find_pod_names(const std::string& pods_dir, const std::string& pod_uid) {
  if (pods_dir.empty() || pod_uid.empty()) return std::nullopt;
  DIR* dir = opendir(pods_dir.c_str());
  if (!dir) return std::nullopt;
  std::optional<PodNames> names;
  const std::string suffix = "_" + pod_uid;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (!ends_with(name, suffix)) continue;
    const std::string rest = name.substr(0, name.size() - suffix.size());
    const auto split = rest.find('_');  // namespaces and pod names cannot hold '_'
    if (split == std::string::npos) continue;
    names = PodNames{rest.substr(0, split), rest.substr(split + 1), ""};
    std::vector<std::string> containers;
    if (DIR* pod = opendir((pods_dir + "/" + name).c_str())) {
      while (dirent* c = readdir(pod))
        if (c->d_type == DT_DIR && c->d_name[0] != '.') containers.emplace_back(c->d_name);
      closedir(pod);
    }
    if (containers.size() == 1) names->container = containers.front();
    break;
  }
  closedir(dir);
  return names;
}

Identity make_identity(const CgroupScope& scope, const std::optional<PodNames>& pod, const std::string& exe_path) {
  Identity identity;
  std::string where;
  if (!scope.pod_uid.empty()) {
    // Inside a pod the container id changes with every container restart: the pod names it.
    identity.labels["k8s_pod_uid"] = scope.pod_uid;
    if (pod) {
      identity.labels["k8s_namespace"] = pod->pod_namespace;
      identity.labels["k8s_pod"] = pod->pod;
      if (!pod->container.empty()) identity.labels["k8s_container"] = pod->container;
      where = pod->pod_namespace + "/" + pod->pod;
    } else {
      where = "pod-" + scope.pod_uid;
    }
  } else if (!scope.container_id.empty()) {
    identity.labels["container_id"] = scope.container_id.substr(0, 12);
    where = (scope.runtime.empty() ? std::string("container") : scope.runtime) + "-" + scope.container_id.substr(0, 12);
  } else if (!scope.systemd_unit.empty()) {
    identity.labels["systemd_unit"] = scope.systemd_unit;
    where = scope.systemd_unit;
  }
  for (auto& [name, value] : identity.labels) value = escape_for_log(value, 128);
  const std::string exe = escape_for_log(file_name(exe_path), 64);
  identity.target = where.empty() ? exe : escape_for_log(where, 128) + "/" + exe;
  return identity;
}

Identity identify_process(int pid, const std::string& exe_path, const std::string& pods_dir) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  const CgroupScope scope = parse_cgroup(text.str());
  return make_identity(scope, find_pod_names(pods_dir, scope.pod_uid), exe_path);
}

}  // namespace dwcp::agent
