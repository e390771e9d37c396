#include "agent/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace dwcp::agent {
namespace {

const std::string kId = "4f1c2e9a0b7d4c3e8f6a5b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const std::string kUid = "0d3b7c5e-1a2b-4c3d-9e8f-7a6b5c4d3e2f";

TEST(Identity, SystemdServiceIsTheUnitAndTheExecutable) {
  const auto scope = parse_cgroup("0::/system.slice/novacron-dwcp.service\n");
  EXPECT_EQ(scope.systemd_unit, "novacron-dwcp.service");
  const auto id = make_identity(scope, std::nullopt, "/opt/novacron/bin/dwcp-node");
  EXPECT_EQ(id.target, "novacron-dwcp.service/dwcp-node");
  EXPECT_EQ(id.labels, (std::map<std::string, std::string>{{"systemd_unit", "novacron-dwcp.service"}}));
}

TEST(Identity, HybridHostsUseTheSystemdTreeWhenTheUnifiedOneIsEmpty) {
  const auto scope = parse_cgroup("9:name=systemd:/system.slice/a.service\n4:memory:/x\n0::/\n");
  EXPECT_EQ(scope.systemd_unit, "a.service");
  // A session scope or the root is no service: the executable alone names the process.
  EXPECT_EQ(make_identity(parse_cgroup("0::/user.slice/user-0.slice/session-4.scope\n"), std::nullopt,
                          "/usr/bin/dwcp (deleted)")
                .target,
            "dwcp");
  EXPECT_EQ(make_identity(parse_cgroup("0::/\n"), std::nullopt, "/usr/bin/dwcp").labels.size(), 0u);
}

TEST(Identity, ContainersAreNamedByRuntimeAndShortId) {
  for (const auto& [path, runtime] : std::vector<std::pair<std::string, std::string>>{
           {"0::/system.slice/docker-" + kId + ".scope", "docker"},
           {"0::/docker/" + kId, "docker"},
           {"0::/machine.slice/libpod-" + kId + ".scope/container", "libpod"}}) {
    const auto scope = parse_cgroup(path);
    EXPECT_EQ(scope.runtime, runtime) << path;
    EXPECT_EQ(scope.container_id, kId) << path;
    EXPECT_EQ(scope.systemd_unit, "") << path;
    const auto id = make_identity(scope, std::nullopt, "/dwcp");
    EXPECT_EQ(id.target, runtime + "-" + kId.substr(0, 12) + "/dwcp");
    EXPECT_EQ(id.labels.at("container_id"), kId.substr(0, 12));
  }
}

TEST(Identity, KubernetesPodsAreNamedFromTheKubeletsPodDirectory) {
  std::string uid_underscores = kUid;
  std::replace(uid_underscores.begin(), uid_underscores.end(), '-', '_');
  const std::string systemd_driver = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                     uid_underscores + ".slice/cri-containerd-" + kId + ".scope\n";
  const std::string cgroupfs_driver = "0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n";
  for (const auto& text : {systemd_driver, cgroupfs_driver}) {
    const auto scope = parse_cgroup(text);
    EXPECT_EQ(scope.pod_uid, kUid) << text;
    EXPECT_EQ(scope.container_id, kId) << text;
  }

  const auto dir = std::filesystem::temp_directory_path() / ("dwcp-pods-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / ("novacron_dwcp-node-7f9c_" + kUid) / "dwcp");
  const auto names = find_pod_names(dir.string(), kUid);
  ASSERT_TRUE(names);
  const auto id = make_identity(parse_cgroup(systemd_driver), names, "/usr/local/bin/dwcp-node");
  EXPECT_EQ(id.target, "novacron/dwcp-node-7f9c/dwcp-node");
  // The container id changes when the container restarts: it is no label inside a pod.
  EXPECT_EQ(id.labels, (std::map<std::string, std::string>{{"k8s_container", "dwcp"},
                                                           {"k8s_namespace", "novacron"},
                                                           {"k8s_pod", "dwcp-node-7f9c"},
                                                           {"k8s_pod_uid", kUid}}));
  // A second container: which one is not known from the directory alone.
  std::filesystem::create_directories(dir / ("novacron_dwcp-node-7f9c_" + kUid) / "sidecar");
  EXPECT_EQ(find_pod_names(dir.string(), kUid)->container, "");
  // No directory for the pod: its UID names it.
  EXPECT_FALSE(find_pod_names(dir.string(), "11111111-2222-3333-4444-555555555555"));
  EXPECT_EQ(make_identity(parse_cgroup(systemd_driver), std::nullopt, "/x/dwcp-node").target,
            "pod-" + kUid + "/dwcp-node");
  std::filesystem::remove_all(dir);
}

TEST(Identity, LabelValuesAreEscapedAndBounded) {
  const auto id =
      make_identity(parse_cgroup("0::/system.slice/a\nb.service\n"), std::nullopt, "/bin/" + std::string(300, 'x'));
  EXPECT_LE(id.target.size(), 64u + 1 + 128);
  EXPECT_EQ(id.target.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace dwcp::agent
