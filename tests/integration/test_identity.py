"""Issue 24 (stable identity): replicas of one executable in different cgroups get labels from
their cgroup — a systemd unit, a Kubernetes pod (pod UID in the cgroup path, namespace and name
from a kubelet-style pod log directory) — unchanged when the agent restarts, and a restarted
service comes back under its labels. The cgroups are this test's own, made in the cgroup v2
tree (removed at the end); the agent is limited to the test's directory with --allow-path."""
import os
import shutil
import unittest
import uuid

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for
from targets import private_copy, private_dir, unique


IDENTITY = ("target", "systemd_unit", "container_id", "k8s_namespace", "k8s_pod", "k8s_container", "k8s_pod_uid",
            "cluster")


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


class Identity(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        root = cgroup2_root()
        if not root or not os.access(root, os.W_OK):
            if os.environ.get("CI") == "true":
                self.fail("no writable cgroup v2 tree")
            raise unittest.SkipTest("no writable cgroup v2 tree")
        self.dir = private_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.base = os.path.join(root, unique("dwcp-identity"))
        self.cgroups = []

    def cgroup(self, *parts):
        path = os.path.join(self.base, *parts)
        os.makedirs(path)
        # Cleanups run last-added first: the deepest is removed first, after tearDown stopped
        # the processes in them.
        for d in [self.base] + [os.path.join(self.base, *parts[:i]) for i in range(1, len(parts) + 1)]:
            if d not in self.cgroups:
                self.cgroups.append(d)
                self.addCleanup(os.rmdir, d)
        return path

    def start_in(self, cgroup, path):
        """The fixture joins `cgroup` before its exec: the agent sees it there from the start."""
        join = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup]
        return self.track(Fixture(path, prefix=join))

    def labels_of(self, agent, pid):
        """The identity labels the DWCP series of the target observing `pid` carry."""
        s = agent.samples()
        target = None
        for (name, labels), v in s.items():
            if name == "dwcp_observer_target_up" and dict(labels).get("pid") == str(pid) and v == 1:
                target = dict(labels)["target"]
        for (name, labels), v in s.items():
            if name.startswith("dwcp_") and not name.startswith("dwcp_observer_") and \
                    dict(labels).get("target") == target:
                return {k: v for k, v in labels if k in IDENTITY}
        return None

    def test_replicas_get_their_cgroup_labels_across_agent_and_service_restarts(self):
        exe = unique("dw-replica")
        path = private_copy(self.dir, "dwcp-fixture", exe)
        pods = os.path.join(self.dir, "pods")
        unit_a, unit_b = unique("dwcp-a") + ".service", unique("dwcp-b") + ".service"
        pod_uid = str(uuid.uuid4())
        os.makedirs(os.path.join(pods, "novacron_dwcp-node-1_" + pod_uid, "dwcp"))
        pod_cgroup = ("kubepods.slice", "kubepods-besteffort.slice",
                      "kubepods-besteffort-pod%s.slice" % pod_uid.replace("-", "_"),
                      "cri-containerd-%s.scope" % os.urandom(32).hex())
        cgroups = {"a": self.cgroup(unit_a), "b": self.cgroup(unit_b), "pod": self.cgroup(*pod_cgroup)}
        expected = {
            "a": {"target": unit_a + "/" + exe, "systemd_unit": unit_a},
            "b": {"target": unit_b + "/" + exe, "systemd_unit": unit_b},
            "pod": {"target": "novacron/dwcp-node-1/" + exe, "k8s_namespace": "novacron",
                    "k8s_pod": "dwcp-node-1", "k8s_container": "dwcp", "k8s_pod_uid": pod_uid},
        }
        args = ["--allow-path", self.dir, "--pod-logs-dir", pods, "--cluster", "test", "--node", "n1"]

        agent = self.track(AgentProcess(args))
        agent.wait_healthy()
        fixtures = {name: self.start_in(cgroup, path) for name, cgroup in cgroups.items()}

        def all_labelled(agent):
            got = {name: self.labels_of(agent, f.pid) for name, f in fixtures.items()}
            return got if all(got.values()) else None
        got = wait_for(lambda: all_labelled(agent), timeout=30)
        self.assertTrue(got, agent.log())
        for name, labels in expected.items():
            self.assertEqual({k: got[name].get(k) for k in labels}, labels, name)
            self.assertEqual(got[name]["cluster"], "test")
        # The same executable in three cgroups: three distinct targets.
        self.assertEqual(len({g["target"] for g in got.values()}), 3)

        # A new agent (the processes keep running): found by its first /proc scan, same labels.
        self.assertEqual(agent.stop(), 0, agent.log())
        agent = self.track(AgentProcess(args))
        again = wait_for(lambda: all_labelled(agent), timeout=30)
        self.assertEqual(again, got, agent.log())

        # Service a restarts: a new process in the same unit is the same target.
        old = fixtures["a"].pid
        fixtures["a"].stop()
        fixtures["a"] = self.start_in(cgroups["a"], path)
        self.assertNotEqual(fixtures["a"].pid, old)
        restarted = wait_for(lambda: all_labelled(agent), timeout=30)
        self.assertEqual(restarted, got, agent.log())
        self.assertEqual(agent.stop(), 0, agent.log())


if __name__ == "__main__":
    unittest.main()
