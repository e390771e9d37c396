// What a discovered process is, as an operator names it: the service it belongs to (its cgroup:
// a systemd unit, a container, a Kubernetes pod) and its executable. A target's labels come from
// here, not from the order processes were found in, so that two replicas get distinct labels that
// survive an agent restart, and a restarted service comes back under the labels it had
// (docs/metrics.md, "Target labels").
#pragma once

#include <map>
#include <optional>
#include <string>

namespace dwcp::agent {

// What a process's cgroup path says (pure, from /proc/PID/cgroup).
struct CgroupScope {
  std::string path;          // the cgroup path used (the unified one, else name=systemd's)
  std::string systemd_unit;  // the innermost "*.service" component ("" inside a container)
  std::string runtime;       // container runtime named by the path: docker, containerd, crio, libpod
  std::string container_id;  // 64 hex digits, or "" when the path names no container
  std::string pod_uid;       // Kubernetes pod UID with dashes ("" when not under kubepods)
};
CgroupScope parse_cgroup(const std::string& proc_pid_cgroup);

// Names of a Kubernetes pod, from the kubelet's directory of pod logs on the node
// (`<pods_dir>/<namespace>_<pod name>_<pod uid>/<container name>/`).
struct PodNames {
  std::string pod_namespace;
  std::string pod;
  std::string container;  // "" unless the pod has a single container directory
};
std::optional<PodNames> find_pod_names(const std::string& pods_dir, const std::string& pod_uid);

struct Identity {
  // `target` label value before any replica suffix: "<scope>/<executable file name>", or the
  // executable file name alone for a process in no unit, container or pod.
  std::string target;
  std::map<std::string, std::string> labels;  // systemd_unit, container_id, k8s_* (non-empty only)
};
// Pure: the identity of a process in `scope` running `exe_path` (" (deleted)" ignored).
Identity make_identity(const CgroupScope& scope, const std::optional<PodNames>& pod, const std::string& exe_path);
// Reads /proc/PID/cgroup and the pod directory; `exe_path` as ProcessInfo::exe_path.
Identity identify_process(int pid, const std::string& exe_path, const std::string& pods_dir);

}  // namespace dwcp::agent
