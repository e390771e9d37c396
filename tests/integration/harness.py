"""Test harness: start the DWCP fixture and the agent as real processes, scrape /metrics over
HTTP, and clean up every process and probe afterwards. Loopback only, free ports only."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

AGENT = os.environ.get("DWCP_OBSERVER_BIN", "")
FIXTURE_DIR = os.environ.get("DWCP_FIXTURE_DIR", "")
SOURCE_DIR = os.environ.get("DWCP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Every wait's deadline (never an assert on time) is multiplied by this where everything runs
# many times slower: the emulated arm64 guest (tests/arm64/arm64_guest.py) sets it.
TIME_SCALE = float(os.environ.get("DWCP_TEST_TIME_SCALE", "1"))


def bpf_unavailable_reason():
    """Why BPF tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root (BPF programs and uprobes need root or CAP_BPF+CAP_PERFMON)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel without BTF (/sys/kernel/btf/vmlinux missing)"
    if not AGENT or not os.path.exists(AGENT):
        return "agent binary not built (DWCP_OBSERVER_BIN)"
    return None


def require_bpf(test):
    """Skip with a printed reason where BPF is truly unavailable; in CI, fail instead."""
    reason = bpf_unavailable_reason()
    if reason:
        if IN_CI:
            test.fail("BPF test cannot run in CI: " + reason)
        print("SKIP: " + reason)
        test.skipTest(reason)


def fixture_path(variant="dwcp-fixture"):
    return os.path.join(FIXTURE_DIR, variant)


def private_fixture(directory, variant="dwcp-fixture", name=None):
    """A copy of a fixture under a command name (comm) no other process on the machine has, so
    that --follow / --comm / --exe cannot pick up someone else's fixture."""
    name = name or "dwcpf-%06x" % (int.from_bytes(os.urandom(3), "little"))
    path = os.path.join(directory, name)
    shutil.copy2(fixture_path(variant), path)
    return path


def run_agent(args, prefix=(), timeout=30):
    proc = subprocess.run(list(prefix) + [AGENT] + list(args), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr + proc.stdout


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds; reaps the process."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bpf_links():
    """IDs of the BPF links on the machine (to prove none of ours outlives the agent)."""
    out = subprocess.run(["bpftool", "-j", "link", "list"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        return set()
    return {link["id"] for link in json.loads(out.stdout)}


def link_ids_of(pid):
    """IDs of the BPF links process `pid` holds open (from /proc/PID/fdinfo)."""
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    try:
        entries = os.listdir(fd_dir)
    except OSError:
        return ids
    for fd in entries:
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("link_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def status_of(pid, task=None):
    """/proc/PID/status (or a thread's) as a dict of field -> text."""
    path = "/proc/%d/task/%d/status" % (pid, task) if task else "/proc/%d/status" % pid
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields[key] = rest.strip()
    return fields


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value} for every sample line."""
    samples = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = frozenset(label_re.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    total, found = 0.0, False
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls):
            total += v
            found = True
    return total if found else None


def label_values(samples, name, label):
    return {dict(ls).get(label) for (n, ls) in samples if n == name and label in dict(ls)}


class Fixture:
    """The Go DWCP fixture as a process; ground truth read from its JSON."""

    def __init__(self, variant="dwcp-fixture", args=(), wait_signal=True, linger=True, prefix=()):
        self.dir = tempfile.mkdtemp(prefix="dwcp-fixture-")
        self.truth_path = os.path.join(self.dir, "truth.json")
        cmd = [fixture_path(variant), "--truth", self.truth_path, "--listen", "127.0.0.1:0"]
        if wait_signal:
            cmd.append("--wait-signal")
        if linger:
            cmd.append("--linger")
        cmd = list(prefix) + cmd + list(args)  # prefix: e.g. a shell that joins a cgroup, then execs
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("fixture did not start: %r %s" % (line, err))
        self.pid = self.proc.pid

    def go(self):
        os.kill(self.pid, signal.SIGUSR1)

    def wait_done(self, timeout=120):
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("DONE"):
                return self.truth()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("fixture exited early: " + self.proc.stderr.read())
        raise TimeoutError("fixture did not finish")

    def truth(self):
        with open(self.truth_path) as f:
            return json.load(f)

    def wait_checkpoint(self, name, timeout=60):
        """--workload sessions: the next "CHECKPOINT <json>" line, which must be `name`; the
        fixture then waits for resume() (SIGUSR1)."""
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("CHECKPOINT "):
                checkpoint = json.loads(line[len("CHECKPOINT "):])
                if checkpoint["name"] != name:
                    raise AssertionError("fixture reached checkpoint %s, expected %s" % (checkpoint["name"], name))
                return checkpoint
            if not line and self.proc.poll() is not None:
                raise RuntimeError("fixture exited early: " + self.proc.stderr.read())
        raise TimeoutError("fixture did not reach checkpoint " + name)

    def resume(self):
        os.kill(self.pid, signal.SIGUSR1)

    def stop(self):
        terminate(self.proc)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class AgentProcess:
    """dwcp-observer as a process on a free loopback port."""

    def __init__(self, args, expect_start=True, env=None, prefix=(), budget_off=True):
        fd, self.stderr_path = tempfile.mkstemp(prefix="dwcp-agent-", suffix=".log")
        self.stderr_file = os.fdopen(fd, "w+")
        self.final_log = ""
        has_listen = "--listen" in args
        # These tests compare counts exactly with the fixture's ground truth. The fixtures do little
        # besides probed calls, so their uprobes cost more than the default budget (2 %) and, after
        # one 10 s interval, the costliest would be detached mid-test and stop counting: the budget
        # is off unless a test sets one or asks for the default (test_budget.py: budget_off=False).
        given = any(a == "--probe-budget" or a.startswith("--probe-budget=") for a in args)
        budget = [] if given or not budget_off else ["--probe-budget", "0"]
        # Tests read the log's fields, not its prose: JSON lines, decoded by log() (the format's own
        # tests, tests/ship, read the raw lines).
        log_format = [] if any(a.startswith("--log.format") for a in args) else ["--log.format", "json"]
        cmd = (list(prefix) + [AGENT] + list(args) + ([] if has_listen else ["--listen", "127.0.0.1:0"]) +
               budget + log_format)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr_file, env=env)
        self.address = None
        self.owned_links = set()  # BPF links this agent held; all must be gone after it exits
        if expect_start:
            self.address = self._wait_serving()

    def _wait_serving(self, timeout=30):
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            m = re.search(r"serving http://([0-9.]+:\d+)/metrics", self.log())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited with %d: %s" % (self.proc.returncode, self.log()))
            time.sleep(0.05)
        raise TimeoutError("agent did not start serving: " + self.log())

    def raw_log(self):
        """The agent's stderr as written."""
        if self.stderr_file.closed:
            return self.final_log
        self.stderr_file.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def log_records(self):
        """Every JSON log line as a dict; a line that is not JSON fails the test that reads it."""
        return [json.loads(line) for line in self.raw_log().splitlines() if line.strip()]

    def log(self):
        """The log's messages, one a line, each followed by its extra fields as ` key=value`."""
        out = []
        for line in self.raw_log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            if not isinstance(rec, dict):
                out.append(line)
                continue
            extra = "".join(" %s=%s" % (k, v) for k, v in rec.items() if k not in ("ts", "level", "msg"))
            out.append(str(rec.get("msg", "")) + extra)
        return "".join(line + "\n" for line in out)

    def get(self, path, timeout=10, headers=None):
        req = urllib.request.Request("http://%s%s" % (self.address, path), headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout * TIME_SCALE) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        status, body = self.get("/metrics")
        if status != 200:
            raise RuntimeError("scrape failed: %d %s" % (status, body))
        return body

    def samples(self):
        return parse_exposition(self.metrics())

    def wait_healthy(self, timeout=30):
        """Serving, whether or not a target is attached yet (discovery starts with none)."""
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            if self.get("/-/healthy")[0] == 200:
                return
            time.sleep(0.05)
        raise TimeoutError("agent not healthy: " + self.log())

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            if self.get("/-/ready")[0] == 200:
                return
            time.sleep(0.05)
        raise TimeoutError("agent not ready: " + self.log())

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.owned_links |= link_ids_of(self.proc.pid)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10 * TIME_SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.stderr_file.closed:
            self.final_log = self.raw_log()
            self.stderr_file.close()
            os.unlink(self.stderr_path)
        return self.proc.returncode


def wait_for(predicate, timeout=15, interval=0.1):
    """Polls until predicate() is truthy; returns its last value. The agent drains its ring
    buffer every 50 ms, so counts settle shortly after the fixture's work ends."""
    deadline = time.time() + timeout * TIME_SCALE
    result = predicate()
    while not result and time.time() < deadline:
        time.sleep(interval)
        result = predicate()
    return result


def wait_for_transfer(scrape, truth, pid, timeout=30):
    """Scrapes until the agent reports all of a fixture run and returns the last samples: socket
    bytes both ways (ring buffer, drained every 50 ms), per-stream bytes both ways (DWCP's
    counters, read every 200 ms and at each Close) and the active streams. One rule for every
    test that waits for a whole run; the caller asserts, so a timeout shows what differs."""
    last = {}

    def arrived():
        last["samples"] = scrape()
        return transfer_arrived(last["samples"], truth, str(pid))
    wait_for(arrived, timeout=timeout)
    return last["samples"]


def transfer_arrived(samples, truth, pid):
    return (value(samples, "dwcp_observer_tcp_bytes_sent_total", pid=pid) == truth["socket_bytes_written"]
            and value(samples, "dwcp_observer_tcp_bytes_received_total", pid=pid) == truth["socket_bytes_read"]
            and value(samples, "dwcp_amst_bytes_sent_total") == sum(truth["bytes_sent_per_stream"].values())
            and value(samples, "dwcp_amst_bytes_received_total") == sum(truth["bytes_received_per_stream"].values())
            and value(samples, "dwcp_amst_streams_active") == truth["active_streams"])


class AgentTestCase(unittest.TestCase):
    """Base: stops every tracked process, then checks that no BPF link an agent held survives it.
    (Links are identified by what each agent held, so other BPF users on the machine do not
    disturb the check.)"""

    def setUp(self):
        self._cleanups_procs = []

    def track(self, proc):
        self._cleanups_procs.append(proc)
        return proc

    def assert_transfer_exact(self, samples, truth, pid):
        """A fixture run as DWCP counted it: socket bytes of `pid` both ways and bytes per stream."""
        pid = str(pid)
        self.assertEqual(value(samples, "dwcp_observer_tcp_bytes_sent_total", pid=pid), truth["socket_bytes_written"])
        self.assertEqual(value(samples, "dwcp_observer_tcp_bytes_received_total", pid=pid), truth["socket_bytes_read"])
        for stream_id, sent in truth["bytes_sent_per_stream"].items():
            self.assertEqual(value(samples, "dwcp_amst_bytes_sent_total", stream_id=stream_id), sent, stream_id)
        for stream_id, received in truth["bytes_received_per_stream"].items():
            self.assertEqual(value(samples, "dwcp_amst_bytes_received_total", stream_id=stream_id), received, stream_id)

    def tearDown(self):
        for proc in reversed(self._cleanups_procs):
            proc.stop()
        owned = set()
        for proc in self._cleanups_procs:
            owned |= getattr(proc, "owned_links", set())
        if owned and os.geteuid() == 0:
            leftover = wait_for(lambda: not (owned & bpf_links()), timeout=10) and set() or (owned & bpf_links())
            self.assertEqual(leftover, set(), "BPF links left behind after the agent exited")
