"""Issue 22: the Go binding of the hook library (bindings/go/dwcpmetrics), the original DWCP metrics
API over libdwcp_hooks.

- GoToolchain: on one Go (DWCP_GO_VERSION, fetched by scripts/fetch-go.sh as the Go matrix does),
  `go vet` and `go test -race` of the package pass, and the replay program links both ways
  (pkg-config against libdwcp_hooks.so, and -tags dwcp_static against libdwcp_hooks.a).
- CppParity: the same call script through the Go API and through the C++ API gives the same
  exposition (tests/parity proves those C++ calls equal to the decoded BPF events).
- LiveAgent: the agent attached to a DWCP fixture run, and the Go API told that run's ground truth
  as a transport integration reports it, serve equal AMST families, series for series.
- LiveFamilies: the fixture built with -tags dwcp_hooks is DWCP switched over to the package (the
  original API called at DWCP's integration points, /metrics served by the process itself); the
  agent attached to that very process serves the same 21 families, family by family
  (LiveFamilies.RULES says how each is compared, docs/go-fallback.md why).

Without the toolchain (no archive reachable) a test fails under CI=true and is skipped otherwise,
like the Go matrix; the live test needs root and BPF (harness.require_bpf)."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (IN_CI, SOURCE_DIR, AgentProcess, AgentTestCase, Fixture, parse_exposition,  # noqa: E402
                     require_bpf, terminate, value, wait_for, wait_for_transfer)

GO_VERSION = os.environ.get("DWCP_GO_VERSION", "1.19")
GO_CACHE = os.environ.get("DWCP_GO_CACHE", "/var/cache/dwcp-observer/go")
BUILD_DIR = os.environ.get("DWCP_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
REPLAY_CPP = os.environ.get("DWCP_REPLAY_CALLS_BIN", "")
PACKAGE_DIR = os.path.join(SOURCE_DIR, "bindings", "go", "dwcpmetrics")
SCRIPT = os.path.join(PACKAGE_DIR, "testdata", "parity_calls.txt")
FIXTURE_SRC = os.path.join(SOURCE_DIR, "tests", "fixtures", "dwcp")
HOOKS_LIB_DIR = os.path.join(BUILD_DIR, "userspace", "hooks")
# The families a fixture run's ground truth defines for a transport integration (replayTruth).
AMST_FAMILIES = ("dwcp_amst_bytes_sent_total", "dwcp_amst_bytes_received_total", "dwcp_amst_streams_total",
                 "dwcp_amst_streams_active")


def go_env(version):
    """(go binary, environment) for Go `version`, or raise unittest.SkipTest / fail in CI."""
    fetch = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "fetch-go.sh"), version],
                           capture_output=True, text=True, env=dict(os.environ, DWCP_GO_CACHE=GO_CACHE))
    if fetch.returncode != 0:
        reason = "cannot fetch Go %s from Debian's archive: %s" % (version, fetch.stderr[-2000:])
        if IN_CI:
            raise AssertionError(reason)
        raise unittest.SkipTest(reason)
    goroot = fetch.stdout.split()[1]
    # One GOCACHE per version where the Go matrix keeps its own (reruns compile nothing), else in
    # the build tree. Offline: the package has no dependencies.
    cache_root = GO_CACHE if os.access(GO_CACHE, os.W_OK) else BUILD_DIR
    env = dict(os.environ, GOROOT=goroot, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off", GOSUMDB="off",
               CGO_ENABLED="1", GOCACHE=os.path.join(cache_root, "gocache-" + version),
               GOPATH=os.path.join(cache_root, "gopath-" + version),
               PKG_CONFIG_PATH=os.path.join(BUILD_DIR, "pkgconfig"), LD_LIBRARY_PATH=HOOKS_LIB_DIR,
               DWCP_METRICS_HOST="127.0.0.1")
    return os.path.join(goroot, "bin", "go"), env


def go(args, env, go_bin):
    return subprocess.run([go_bin] + args, cwd=PACKAGE_DIR, env=env, capture_output=True, text=True)


def build_replay(directory, version="1.19", tags=()):
    go_bin, env = go_env(version)
    path = os.path.join(directory, "dwcp-metrics-replay")
    build = go(["build", "-buildvcs=false"] + (["-tags", ",".join(tags)] if tags else []) +
               ["-o", path, "./cmd/dwcp-metrics-replay"], env, go_bin)
    if build.returncode != 0:
        raise AssertionError("go build failed:\n" + build.stderr)
    return path, env


def build_hooked_fixture(directory, version="1.19"):
    """The DWCP fixture switched over to the package: built with -tags dwcp_hooks against the
    build tree's hook library, DWCP's integration points (dwcp_hooks.patch) applied to copies of
    the sources they touch and swapped in with -overlay (the checkout stays the plain fixture),
    its module file plus the package (go.hooks.mod, copied: `go build` may rewrite it)."""
    go_bin, env = go_env(version)
    patch = os.path.join(FIXTURE_SRC, "dwcp_hooks.patch")
    with open(patch) as f:
        touched = [line[len("+++ b/"):].strip() for line in f if line.startswith("+++ b/")]
    patched = os.path.join(directory, "patched")
    for path in touched:
        os.makedirs(os.path.dirname(os.path.join(patched, path)), exist_ok=True)
        shutil.copyfile(os.path.join(FIXTURE_SRC, path), os.path.join(patched, path))
    apply = subprocess.run(["git", "apply", patch], cwd=patched, capture_output=True, text=True)
    if apply.returncode != 0:
        raise AssertionError("dwcp_hooks.patch no longer applies to the fixture (regenerate it):\n" + apply.stderr)
    overlay = os.path.join(directory, "overlay.json")
    with open(overlay, "w") as f:
        json.dump({"Replace": {os.path.join(FIXTURE_SRC, p): os.path.join(patched, p) for p in touched}}, f)
    modfile = os.path.join(directory, "go.hooks.mod")
    with open(os.path.join(FIXTURE_SRC, "go.hooks.mod")) as src, open(modfile, "w") as dst:
        dst.write(src.read().replace("=> ../../../bindings/go/dwcpmetrics", "=> " + PACKAGE_DIR))
    path = os.path.join(directory, "dwcp-fixture-hooked")
    build = subprocess.run([go_bin, "build", "-buildvcs=false", "-modfile=" + modfile, "-overlay=" + overlay,
                            "-tags", "dwcp_hooks", "-o", path, "./cmd/dwcp-fixture"], cwd=FIXTURE_SRC, env=env,
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise AssertionError("go build -tags dwcp_hooks failed:\n" + build.stderr)
    return path, env


def comparable(text):
    """The exposition's lines, with the durations the library measures itself (stream open to
    end, migration start to complete: the real clock of each process) blanked."""
    out = []
    for line in text.splitlines():
        if (line.startswith("dwcp_migration_duration_seconds_sum{") or
                (line.startswith("dwcp_amst_latency_seconds_sum{") and 'operation="stream_duration"' in line)):
            line = line.rsplit(" ", 1)[0] + " <measured>"
        out.append(line)
    return out


class GoToolchain(unittest.TestCase):
    def test_vet_and_race_tests_pass(self):
        go_bin, env = go_env(GO_VERSION)
        version = go(["version"], env, go_bin)
        self.assertIn("go" + GO_VERSION, version.stdout)
        vet = go(["vet", "./..."], env, go_bin)
        self.assertEqual(vet.returncode, 0, vet.stdout + vet.stderr)
        test = go(["test", "-race", "-count=1", "./..."], env, go_bin)
        self.assertEqual(test.returncode, 0, test.stdout + test.stderr)
        print(version.stdout.strip() + ": " + test.stdout.strip(), file=sys.stderr)

    def test_links_shared_and_static(self):
        with tempfile.TemporaryDirectory() as tmp:
            for tags, shared in (((), True), (("dwcp_static",), False)):
                path, env = build_replay(tmp, GO_VERSION, tags)
                ldd = subprocess.run(["ldd", path], env=env, capture_output=True, text=True).stdout
                self.assertEqual("libdwcp_hooks.so" in ldd, shared, "tags %s:\n%s" % (tags, ldd))
                # Runs, without the build tree's library for the static one.
                run_env = env if shared else dict(env, LD_LIBRARY_PATH="")
                out = subprocess.run([path, "--script", SCRIPT], env=run_env, capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn('dwcp_amst_bytes_sent_total{cluster="default",node="localhost",stream_id="0"} 196732',
                              out.stdout)


class CppParity(unittest.TestCase):
    def test_go_and_cpp_calls_give_the_same_exposition(self):
        self.assertTrue(REPLAY_CPP and os.path.exists(REPLAY_CPP), "DWCP_REPLAY_CALLS_BIN (ctest sets it)")
        with tempfile.TemporaryDirectory() as tmp:
            replay_go, env = build_replay(tmp)
            from_go = subprocess.run([replay_go, "--script", SCRIPT, "--cluster", "parity", "--node", "n1"],
                                     env=env, capture_output=True, text=True, check=True).stdout
        from_cpp = subprocess.run([REPLAY_CPP, SCRIPT, "parity", "n1"], env=env, capture_output=True, text=True,
                                  check=True).stdout
        go_lines, cpp_lines = comparable(from_go), comparable(from_cpp)
        # The script touches every one of the 21 families.
        families = {l.split()[2] for l in cpp_lines if l.startswith("# TYPE dwcp_") and
                    not l.startswith("# TYPE dwcp_observer_")}
        self.assertEqual(len(families), 21, sorted(families))
        for family in families:
            self.assertTrue(any(l.startswith(family) for l in cpp_lines if not l.startswith("#")),
                            family + " has no series in the script")
        self.assertGreater(len(cpp_lines), 150)
        for go_line, cpp_line in zip(go_lines, cpp_lines):
            self.assertEqual(go_line, cpp_line, "first difference (Go, C++)")
        self.assertEqual(len(go_lines), len(cpp_lines))


class LiveAgent(AgentTestCase):
    def test_go_api_told_the_fixture_run_serves_what_the_agent_serves(self):
        require_bpf(self)
        fixture = self.track(Fixture("dwcp-fixture", ["--streams", "4", "--transfers", "6",
                                                      "--transfer-size", str(3 * 65536 + 1234)]))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--cluster", "live", "--node", "n1"]))
        agent.wait_ready()
        fixture.go()
        truth = fixture.wait_done()
        wait_for_transfer(agent.samples, truth, fixture.pid)

        with tempfile.TemporaryDirectory() as tmp:
            replay, env = build_replay(tmp)
            truth_path = os.path.join(tmp, "truth.json")
            with open(fixture.truth_path) as src, open(truth_path, "w") as dst:
                dst.write(src.read())
            proc = subprocess.Popen([replay, "--truth", truth_path, "--cluster", "live", "--node", "n1", "--port", "0"],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = proc.stdout.readline()
                m = re.match(r"LISTENING (\d+)", line)
                self.assertIsNotNone(m, line + proc.stderr.read() if proc.poll() is not None else line)
                with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1), timeout=10) as r:
                    from_go = parse_exposition(r.read().decode())
            finally:
                terminate(proc)
                proc.stdout.close()
                proc.stderr.close()

        def families(samples):
            return {k: v for k, v in samples.items() if k[0] in AMST_FAMILIES}

        go_series = families(from_go)
        self.assertGreaterEqual(len([k for k in go_series if k[0] == "dwcp_amst_bytes_sent_total"]), 4)
        # The agent's last figures may still be arriving (Close's events): wait for equality.
        wait_for(lambda: families(agent.samples()) == go_series, timeout=10)
        agent_series = families(agent.samples())
        for family in AMST_FAMILIES:
            self.assertEqual({k: v for k, v in agent_series.items() if k[0] == family},
                             {k: v for k, v in go_series.items() if k[0] == family}, family + ": agent vs Go")


def declared_families(text):
    """{family: type} of the dwcp_* families an exposition declares (# TYPE), the agent's own
    dwcp_observer_* left out: the list is derived, never written here."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("# TYPE dwcp_") and not parts[2].startswith("dwcp_observer_"):
            out[parts[2]] = parts[3]
    return out


def series(samples, name):
    return {labels: v for (n, labels), v in samples.items() if n == name}


class LiveFamilies(AgentTestCase):
    """The agent on the hooked fixture against the fixture's own /metrics, every dwcp_* family.

    Both sides observe one run of one process. Counters and gauges must be equal series for
    series, histograms by their `_count` (durations: the agent times entry to RET, the process
    its own calls: two clocks) and, for the ratio histogram, buckets and `_sum` too. rules() names
    the families where the original API and the agent count differently, and what is compared
    there instead (docs/go-fallback.md, "How parity is proven")."""

    LINK_MBPS = "1000"
    WORKLOAD = ["--workload", "all", "--transfers", "2", "--goroutines", "2", "--streams", "3",
                "--transfer-size", str(3 * 65536 + 1234), "--send-fail", "--reconnect"]

    def compare_hde_operations(self, agent, hooked):
        # The original API counts every compression as "encode" and every decompression as
        # "decode", and has no call for a compression that failed.
        def op(samples, operation, result):
            return value(samples, "dwcp_hde_operations_total", operation=operation, result=result) or 0
        yield "encode/success", op(agent, "encode", "success") + op(agent, "compress", "success"), \
            op(hooked, "encode", "success")
        for result in ("success", "failure"):
            yield "decode/" + result, op(agent, "decode", result) + op(agent, "decompress", result), \
                op(hooked, "decode", result)
        yield "hooked compress/decompress/encode failures", 0, \
            sum(op(hooked, o, r) for o, r in (("compress", "success"), ("compress", "failure"), ("decompress", "success"),
                                              ("decompress", "failure"), ("encode", "failure")))

    def compare_hit_rate(self, agent, hooked):
        # Agent: hits over the Encodes DWCP counts; original API: over every compression
        # reported. The delta hits behind the two rates are the same.
        def hits(samples, encodes):
            rate = value(samples, "dwcp_hde_delta_hit_rate_percent")
            return None if rate is None else round(rate * encodes / 100)
        agent_encodes = value(agent, "dwcp_hde_operations_total", operation="encode", result="success")
        yield "delta hits", hits(agent, agent_encodes), \
            hits(hooked, value(hooked, "dwcp_hde_operations_total", operation="encode", result="success"))

    def compare_labels_only(self, name):
        # A figure each side measures itself (a rate over its own interval, a duration on its
        # own clock): the series must exist on both sides, the values are not comparable.
        def compare(agent, hooked):
            yield "series", set(series(agent, name)), set(series(hooked, name))
        return compare

    def compare_no_source(self, name):
        # The workload gives neither side a value: no series on either.
        def compare(agent, hooked):
            yield "series", set(series(agent, name)), set(series(hooked, name))
            yield "no series", 0, len(series(hooked, name))
        return compare

    def rules(self):
        return {
            "dwcp_hde_operations_total": self.compare_hde_operations,
            "dwcp_hde_delta_hit_rate_percent": self.compare_hit_rate,
            "dwcp_amst_bandwidth_utilization_percent": self.compare_labels_only("dwcp_amst_bandwidth_utilization_percent"),
            "dwcp_migration_speedup_factor": self.compare_labels_only("dwcp_migration_speedup_factor"),
            # A float the agent cannot read (BPF), and the fixture's HDE has no dictionary.
            "dwcp_hde_dictionary_efficiency_percent": self.compare_no_source("dwcp_hde_dictionary_efficiency_percent"),
        }

    def differences(self, families, agent, hooked):
        """[(family, what, agent's, hooked's)] for every comparison that fails."""
        rules = self.rules()
        out = []
        for family, kind in sorted(families.items()):
            if family in rules:
                checks = list(rules[family](agent, hooked))
            elif kind in ("counter", "gauge"):
                checks = [("series", series(agent, family), series(hooked, family))]
            elif family.endswith("_seconds"):
                checks = [("_count", series(agent, family + "_count"), series(hooked, family + "_count"))]
            else:
                checks = [(part, series(agent, family + part), series(hooked, family + part))
                          for part in ("_bucket", "_count")]
                a, h = series(agent, family + "_sum"), series(hooked, family + "_sum")
                # Equal up to the order of the float additions (concurrent calls).
                if set(a) != set(h) or any(not math.isclose(a[k], h[k], rel_tol=1e-9) for k in a):
                    checks.append(("_sum", a, h))
            out += [(family, what, a, h) for what, a, h in checks if a != h]
        return out

    def test_the_agent_and_the_switched_over_process_serve_the_same_families(self):
        with tempfile.TemporaryDirectory() as tmp:
            binary, env = build_hooked_fixture(tmp)  # before require_bpf: a stale patch fails everywhere
            require_bpf(self)
            port_file = os.path.join(tmp, "metrics-port")
            environment = ["env", "DWCP_CLUSTER=live", "DWCP_NODE=n1", "DWCP_METRICS_HOST=127.0.0.1",
                           "DWCP_METRICS_PORT_FILE=" + port_file, "DWCP_LINK_CAPACITY_MBPS=" + self.LINK_MBPS,
                           "LD_LIBRARY_PATH=" + HOOKS_LIB_DIR]
            # `env` execs the fixture: the PID stays the fixture's.
            fixture = self.track(Fixture(binary, self.WORKLOAD, prefix=environment))
            with open(port_file) as f:
                url = "http://127.0.0.1:%d/metrics" % int(f.read())
            agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--cluster", "live", "--node", "n1",
                                             "--link-capacity-mbps", self.LINK_MBPS]))
            agent.wait_ready()
            fixture.go()
            truth = fixture.wait_done()
            wait_for_transfer(agent.samples, truth, fixture.pid)

            def scrape_hooked():
                with urllib.request.urlopen(url, timeout=10) as r:
                    return r.read().decode()
            hooked_text = scrape_hooked()
            hooked = parse_exposition(hooked_text)
            families = declared_families(hooked_text)
            self.assertEqual(declared_families(agent.metrics()), families, "families declared: agent vs hooked")
            self.assertEqual(len(families), 21, sorted(families))
            # Every family but the one no source fills has series on the hooked side.
            for family in families:
                if family != "dwcp_hde_dictionary_efficiency_percent":
                    self.assertTrue(any(n.startswith(family) for n, _ in hooked), family + ": no series (hooked)")
            # The agent's last figures (memory reads every 200 ms, Close's finals) may still be
            # arriving: wait until nothing differs, then report what still does.
            wait_for(lambda: not self.differences(families, agent.samples(), hooked), timeout=15)
            diffs = self.differences(families, agent.samples(), hooked)
            self.assertEqual(diffs, [], "\n".join("%s %s: agent %s, hooked %s" % d for d in diffs))
            # The process's figures did not move meanwhile (it was idle after DONE).
            self.assertEqual(parse_exposition(scrape_hooked()), hooked)


if __name__ == "__main__":
    unittest.main()
