"""Issue 24, "a fleet in miniature": two nodes in network namespaces this test creates (one veth
pair, 10.200.N.1 and 10.200.N.2, nothing routed anywhere else), each with its own agent and DWCP
fixtures: node A sends to node B and node B to node A. Each node has its own Prometheus (the
shipped rules) scraping its agent; a global Prometheus in node A's namespace federates both with
the shipped configs/prometheus/federation.yml (its targets replaced by the two node Prometheus
servers, intervals shortened). Then:
  - per stream, the bytes node A's agent counted as sent equal what node B's counted as received
    (and the other way), both equal to the fixtures' ground truth (queried from each node's
    Prometheus);
  - the fleet-level (cluster.*) recording rules at the global Prometheus have both nodes.
Namespaces, processes and files are removed at the end. Root, `ip` and `prometheus` are required
(skipped, or failed under CI=true)."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import yaml

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "rules"))

from harness import AgentProcess, AgentTestCase, Fixture, SOURCE_DIR, require_bpf, terminate, wait_for  # noqa: E402
import prometheus_e2e_config  # noqa: E402

ROOT = pathlib.Path(SOURCE_DIR).resolve()
PROMETHEUS = os.environ.get("DWCP_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
TRANSFER = ["--workload", "amst", "--streams", "3", "--transfers", "4", "--transfer-size", str(3 * 65536 + 99)]
FIXTURE_PORT, AGENT_PORT, PROM_PORT, GLOBAL_PORT = 7000, 9476, 9090, 9091


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Fleet(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        for tool in ("ip", "curl", PROMETHEUS):
            if not shutil.which(tool):
                self.fail_or_skip(tool + " is not installed")
        self.dir = tempfile.mkdtemp(prefix="dwcp-fleet-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        tag = os.urandom(3).hex()
        self.subnet = 1 + int(tag, 16) % 250  # 10.200.<subnet>.0/24: one test run's own addresses
        self.ns = {"a": "dwcp-a-" + tag, "b": "dwcp-b-" + tag}
        self.ip = {"a": "10.200.%d.1" % self.subnet, "b": "10.200.%d.2" % self.subnet}
        for ns in self.ns.values():
            run("ip", "netns", "add", ns)
            self.addCleanup(subprocess.run, ["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        run("ip", "-n", self.ns["a"], "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns",
            self.ns["b"])
        for node, dev in (("a", "veth0"), ("b", "veth1")):
            run("ip", "-n", self.ns[node], "addr", "add", self.ip[node] + "/24", "dev", dev)
            run("ip", "-n", self.ns[node], "link", "set", dev, "up")
            run("ip", "-n", self.ns[node], "link", "set", "lo", "up")

    def fail_or_skip(self, why):
        if os.environ.get("CI") == "true":
            self.fail(why)
        raise unittest.SkipTest(why)

    def inside(self, node):
        return ["ip", "netns", "exec", self.ns[node]]

    def fixture(self, node, role, peer=None):
        args = TRANSFER + ["--role", role, "--test-netns"]
        if role == "receiver":
            args += ["--listen", "%s:%d" % (self.ip[node], FIXTURE_PORT)]
        else:
            args += ["--peer", "%s:%d" % (self.ip[peer], FIXTURE_PORT)]
        return self.track(Fixture(args=args, prefix=self.inside(node)))

    def prometheus(self, node, config, port):
        data = os.path.join(self.dir, "data-%s-%d" % (node, port))
        proc = subprocess.Popen(self.inside(node) + [
            PROMETHEUS, "--config.file", str(config), "--storage.tsdb.path", data,
            "--web.listen-address", "%s:%d" % (self.ip[node], port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(terminate, proc)
        return "%s:%d" % (self.ip[node], port)

    def query(self, address, expr):
        """Instant query through curl inside node A's namespace (the test's own namespace has no
        route to 10.200/16)."""
        url = "http://%s/api/v1/query?%s" % (address, urllib.parse.urlencode({"query": expr}))
        out = subprocess.run(self.inside("a") + ["curl", "-sf", url], stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            return []
        return yaml.safe_load(out.stdout)["data"]["result"]

    def per_stream(self, address, metric):
        return {r["metric"]["stream_id"]: int(float(r["value"][1]))
                for r in self.query(address, "sum by (stream_id) (%s)" % metric)}

    def test_two_nodes_one_global_prometheus(self):
        receivers = {"a": self.fixture("a", "receiver"), "b": self.fixture("b", "receiver")}
        senders = {"a": self.fixture("a", "sender", peer="b"), "b": self.fixture("b", "sender", peer="a")}
        node_prometheus = {}
        for node in ("a", "b"):
            agent = self.track(AgentProcess(
                ["--pid", str(senders[node].pid), "--pid", str(receivers[node].pid), "--cluster", "fleet",
                 "--node", "node-" + node, "--listen", "%s:%d" % (self.ip[node], AGENT_PORT)],
                prefix=self.inside(node)))
            self.assertIn("attached", agent.log())
            config = prometheus_e2e_config.write_config(os.path.join(self.dir, "prom-" + node),
                                                        ["%s:%d" % (self.ip[node], AGENT_PORT)])
            node_prometheus[node] = self.prometheus(node, config, PROM_PORT)

        federation = yaml.safe_load((ROOT / "configs/prometheus/federation.yml").read_text())
        federation["global"].update(scrape_interval="1s", evaluation_interval="1s")
        job = federation["scrape_configs"][0]
        job.update(scrape_interval="1s", scrape_timeout="1s")
        job["static_configs"] = [{"targets": [node_prometheus[n]], "labels": {"source_prometheus": "node-" + n}}
                                 for n in ("a", "b")]
        global_config = pathlib.Path(self.dir) / "global.yml"
        global_config.write_text(yaml.safe_dump(federation, sort_keys=False))
        global_prometheus = self.prometheus("a", global_config, GLOBAL_PORT)

        for node, fixture in receivers.items():
            fixture.go()
            listening = ["ss", "-Htln", "src", "%s:%d" % (self.ip[node], FIXTURE_PORT)]
            self.assertTrue(wait_for(lambda: subprocess.run(self.inside(node) + listening, stdout=subprocess.PIPE,
                                                            text=True).stdout.strip() != ""))
        for fixture in senders.values():
            fixture.go()
        truth = {(role, node): f.wait_done() for role, fixtures in (("sent", senders), ("received", receivers))
                 for node, f in fixtures.items()}

        for src, dst in (("a", "b"), ("b", "a")):
            expected = {k: v for k, v in truth[("sent", src)]["bytes_sent_per_stream"].items()}
            self.assertEqual(expected, truth[("received", dst)]["bytes_received_per_stream"])
            sent = lambda: self.per_stream(node_prometheus[src], 'dwcp_amst_bytes_sent_total{node="node-%s"}' % src)
            received = lambda: self.per_stream(node_prometheus[dst],
                                               'dwcp_amst_bytes_received_total{node="node-%s"}' % dst)
            self.assertTrue(wait_for(lambda: sent() == expected and received() == expected, timeout=60),
                            "%s -> %s: sent %s, received %s, truth %s" % (src, dst, sent(), received(), expected))

        fleet_rules = ["cluster_node:dwcp_amst_throughput_megabits:rate5m",
                       "cluster_node_component:dwcp_system_component_up:min"]
        for rule in fleet_rules:
            nodes = lambda: sorted({r["metric"].get("node") for r in self.query(global_prometheus, rule)})
            self.assertTrue(wait_for(lambda: nodes() == ["node-a", "node-b"], timeout=60),
                            "%s at the global Prometheus: %s" % (rule, nodes()))
        sources = sorted({r["metric"]["source_prometheus"] for r in self.query(global_prometheus, fleet_rules[0])})
        self.assertEqual(sources, ["node-a", "node-b"])


if __name__ == "__main__":
    unittest.main()
