"""Issue 4, "it must show": the operators' kit proven end to end on the real kernel.

The Go DWCP fixture works continuously (every workload, injected faults); the real agent is
attached to it by PID; a real Prometheus (Debian's 2.42) on a free 127.0.0.1 port scrapes the
agent every second and evaluates the shipped rules every second. Then:
  1. every recording rule returns data, every shipped rule is loaded and healthy
     (tests/rules/recording_queries.py);
  2. every dashboard panel query and template-variable query returns a non-empty result, with the
     variables set to this agent's cluster/node/job/instance (tests/dashboard/panel_queries.py);
  3. scripts/verify.sh passes against the agent and Prometheus;
  4. stopping the fixture makes DWCPObserverTargetDown fire (test-only `for: 5s`, written by
     tests/rules/prometheus_e2e_config.py);
  5. Prometheus, the agent and the fixture are stopped, the temporary directory is gone and no BPF
     link is left (AgentTestCase.tearDown).
Root and BPF are required (harness.require_bpf: skip by hand, fail under CI=true).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "rules"))

from harness import (AgentProcess, AgentTestCase, Fixture, SOURCE_DIR, free_port,  # noqa: E402
                     require_bpf, value, wait_for)
import prometheus_e2e_config  # noqa: E402

ROOT = pathlib.Path(SOURCE_DIR).resolve()
PROMETHEUS = os.environ.get("DWCP_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
JOB = "dwcp-observer"  # the observer alerts match job=~"dwcp-observer.*"
CLUSTER, NODE = "e2e", "n1"

# Continuous work for longer than the test needs, so that every rate() window sees traffic:
# errors (--fail-every), delta hits and misses, migrations and federation all happen every round.
FIXTURE_ARGS = ["--workload", "all", "--fail-every", "7", "--transfers", "0", "--duration", "90s",
                "--rate", "5", "--streams", "4"]

# Series that cannot exist with this workload, each with its reason. The workload exercises every
# subsystem the dashboard and the rules look at, but it runs one AMST session for the whole run:
# a stream's lifetime (stream_duration, observed at its session's Close) ends only after the
# queries, so the stream-lifetime quantiles have no sample (before, histogram_quantile of an
# empty window gave NaN, which these scripts took for data).
PANELS_ALLOWED_EMPTY = [r"AMST Stream Latency \(P95/P99\)"]
RECORDING_RULES_ALLOWED_EMPTY = [r"^cluster_node:dwcp_amst_stream_duration_seconds:p9[59]_10m$"]

# panel_queries.py puts 1m for $__rate_interval (what Grafana computes for the shipped 15 s scrape:
# max(4 x scrape, scrape + interval)). rate() over 1m needs two samples of each series: 2 s at a 1 s
# scrape, but a series born late (the first error of a kind) needs its own two scrapes, so the query
# scripts also retry empty queries for this long before calling them empty.
SCRIPT_RETRY_SECONDS = 30
MIN_SCRAPES_BEFORE_QUERIES = 15


class PrometheusProcess:
    """Debian's prometheus on a free 127.0.0.1 port, its TSDB and log in `workdir`."""

    def __init__(self, binary, config, workdir, attempts=3):
        self.proc = None
        self.log_path = None
        for attempt in range(attempts):
            port = free_port()
            self.url = "http://127.0.0.1:%d" % port
            self.log_path = pathlib.Path(workdir) / ("prometheus-%d.log" % attempt)
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen(
                    [binary, "--config.file=%s" % config,
                     "--storage.tsdb.path=%s" % (pathlib.Path(workdir) / "data"),
                     "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                    stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
            # Another process took the free port between free_port() and the bind: try another.
            if self.proc.poll() is not None and "address already in use" in self.log():
                continue
            break
        self.stop()
        raise RuntimeError("Prometheus did not become ready on %s:\n%s" % (self.url, self.log()[-3000:]))

    def _wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def log(self):
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def api(self, path, **params):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError("%s: %s" % (path, body))
        return body["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)["result"]

    def scalar(self, expr):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self, name):
        return [a for a in self.api("/api/v1/alerts")["alerts"] if a["labels"].get("alertname") == name]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def run_tool(argv, timeout=180):
    """Runs one of the kit's checking tools; returns (exit code, its output) and echoes the output
    so that `ctest -V` shows every OK/EMPTY line."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    text = "$ %s\n%s%s" % (" ".join(str(a) for a in argv), out.stdout, out.stderr)
    print(text, flush=True)
    return out.returncode, text


def problems(output):
    """The lines of a tool's output that are not a success, for a short failure message."""
    bad = [line for line in output.splitlines()
           if line.strip() and not line.startswith(("OK", "PASS", "$ ", "=="))]
    return "\n".join(bad)


class PrometheusEndToEnd(AgentTestCase):
    def test_rules_and_panels_have_data_verify_passes_and_target_down_fires(self):
        require_bpf(self)
        self.assertTrue(os.access(PROMETHEUS, os.X_OK),
                        "no prometheus binary at %s (apt-get install prometheus)" % PROMETHEUS)
        started = time.monotonic()
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="dwcp-e2e-"))
        self.addCleanup(shutil.rmtree, workdir, True)  # safety net when the test fails half-way

        # 1. Fixture (waiting for SIGUSR1), the agent attached by PID, Prometheus scraping it.
        fixture = self.track(Fixture(args=FIXTURE_ARGS))
        # The link capacity is the operator's to state; with it the agent derives bandwidth
        # utilization and migration speedup (the dashboard has panels for both).
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--cluster", CLUSTER, "--node", NODE,
                                         "--link-capacity-mbps", "1000"]))
        agent.wait_ready()
        config = prometheus_e2e_config.write_config(workdir, [agent.address], job=JOB)
        prometheus = self.track(PrometheusProcess(PROMETHEUS, config, workdir))
        instance = agent.address
        up = 'up{job="%s", instance="%s"}' % (JOB, instance)
        self.assertTrue(wait_for(lambda: prometheus.scalar(up) == 1, timeout=30, interval=0.5),
                        "Prometheus does not scrape the agent at %s:\n%s"
                        % (instance, prometheus.log()[-3000:]))
        fixture.go()

        # 2. The workload reaches every subsystem (read from the agent directly), then Prometheus
        #    holds enough scrapes for the 1m rate() windows of the panels.
        def workload_missing():
            s = agent.samples()
            checks = {
                "AMST bytes": value(s, "dwcp_amst_bytes_sent_total"),
                "AMST errors": value(s, "dwcp_amst_errors_total"),
                "HDE compressions": value(s, "dwcp_hde_operations_total", operation="compress",
                                          result="success"),
                "delta encodes": value(s, "dwcp_hde_operations_total", operation="encode", result="success"),
                # strictly between 0 and 100: delta hits and misses both happened
                "delta hits and misses": 0 < (value(s, "dwcp_hde_delta_hit_rate_percent") or 0) < 100,
                "migrations": value(s, "dwcp_migration_duration_seconds_count"),
                "federation syncs": value(s, "dwcp_federation_sync_duration_seconds_count"),
            }
            return [what for what, v in checks.items() if not v]
        if not wait_for(lambda: not workload_missing(), timeout=30, interval=0.5):
            self.fail("the workload did not show up in the agent's metrics: " + ", ".join(workload_missing()))
        scrapes = 'count_over_time(%s[1m])' % up
        self.assertTrue(wait_for(lambda: (prometheus.scalar(scrapes) or 0) >= MIN_SCRAPES_BEFORE_QUERIES,
                                 timeout=60, interval=0.5),
                        "Prometheus has fewer than %d scrapes of the agent" % MIN_SCRAPES_BEFORE_QUERIES)
        throughput = prometheus.scalar('sum(rate(dwcp_amst_bytes_sent_total{job="%s"}[1m]))' % JOB)
        self.assertGreater(throughput or 0, 0,
                           "the fixture is not transferring while the queries run")

        # Each check in its own subTest: one failing does not hide the others, nor steps 4 and 5.
        with self.subTest("every recording rule returns data, every rule loaded and healthy"):
            code, out = run_tool(
                [sys.executable, ROOT / "tests/rules/recording_queries.py", prometheus.url,
                 "--wait", str(SCRIPT_RETRY_SECONDS),
                 "--rules", workdir / "dwcp-recording-rules.yml", "--rules", workdir / "dwcp-alerts.yml"] +
                [a for r in RECORDING_RULES_ALLOWED_EMPTY for a in ("--allow-empty", r)])
            self.assertEqual(code, 0, problems(out))
        with self.subTest("every dashboard panel and variable query returns data"):
            code, out = run_tool(
                [sys.executable, ROOT / "tests/dashboard/panel_queries.py", prometheus.url,
                 "--wait", str(SCRIPT_RETRY_SECONDS),
                 "--var", "job=" + JOB, "--var", "cluster=" + CLUSTER, "--var", "node=" + NODE,
                 "--var", "instance=" + instance] +
                [a for r in PANELS_ALLOWED_EMPTY for a in ("--allow-empty", r)])
            self.assertEqual(code, 0, problems(out))

        # 3. The operators' verify script, against the live setup.
        with self.subTest("scripts/verify.sh passes"):
            code, out = run_tool(["bash", ROOT / "scripts/verify.sh", "http://" + instance, prometheus.url])
            self.assertEqual(code, 0, problems(out))

        # 4. The target goes away: the agent reports it, and the short-`for` alert fires.
        self.assertEqual(prometheus.alerts("DWCPObserverTargetDown"), [],
                         "DWCPObserverTargetDown is pending or firing while the target is alive")
        fixture.proc.terminate()
        exit_code = fixture.proc.wait(30)
        self.assertEqual(exit_code, 0, "the observed fixture failed (errors that were not injected, or "
                         "data that did not survive a round trip): " + fixture.proc.stderr.read())
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up",
                                               pid=str(fixture.pid)) == 0),
                        "the agent still reports target_up 1 for the exited fixture")
        stopped = time.monotonic()

        def firing():
            return [a for a in prometheus.alerts("DWCPObserverTargetDown")
                    if a["state"] == "firing" and a["labels"].get("instance") == instance]
        fired = wait_for(firing, timeout=60, interval=0.5)
        self.assertTrue(fired, "DWCPObserverTargetDown did not fire within 60 s of the fixture's exit; "
                        "alerts: %s" % json.dumps(prometheus.alerts("DWCPObserverTargetDown")))
        print("DWCPObserverTargetDown firing %.1f s after the fixture exited: %s"
              % (time.monotonic() - stopped, fired[0]["labels"]), flush=True)

        # 5. Clean up in order and check it; tearDown then checks that no BPF link is left.
        self.assertEqual(prometheus.stop(), 0,
                         "Prometheus did not exit cleanly:\n" + prometheus.log()[-3000:])
        self.assertEqual(agent.stop(), 0, "the agent did not exit 0 on SIGTERM:\n" + agent.log())
        fixture.stop()
        shutil.rmtree(workdir)
        self.assertFalse(workdir.exists())
        self.assertFalse(os.path.exists(fixture.dir), "the fixture's temporary directory is left")
        print("end-to-end run took %.1f s" % (time.monotonic() - started), flush=True)


if __name__ == "__main__":
    unittest.main()
