"""Shared pieces of the end-to-end benchmarks (docs/performance.md): the processes (fixture,
agent, bpftrace, empty-program floor), timing, /metrics parsing and min/median/max summaries.

Paths come from the environment run_all.sh sets: DWCP_OBSERVER_BIN, DWCP_FIXTURE_DIR,
DWCP_PERF_TOOLS (callloop and empty_uprobes), DWCP_PERF_RESULTS."""
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
from harness import parse_exposition, value  # noqa: E402  (one parser for tests and benchmarks)

AGENT = os.environ.get("DWCP_OBSERVER_BIN", "")
FIXTURE = os.path.join(os.environ.get("DWCP_FIXTURE_DIR", ""), "dwcp-fixture")
TOOLS = os.environ.get("DWCP_PERF_TOOLS", "")
RESULTS = os.environ.get("DWCP_PERF_RESULTS", tempfile.gettempdir())
BPFTRACE = "/usr/bin/bpftrace"
SEND_CHUNK = ("github.com/khryptorgraphics/novacron/backend/core/network/dwcp/"
              "transport.(*MultiStreamTCP).sendChunk")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def summary(values):
    """min / median / max of a list of numbers, plus the runs themselves."""
    vs = sorted(values)
    return {"min": vs[0], "median": statistics.median(vs), "max": vs[-1], "runs": list(values)}


def save(name, data):
    path = os.path.join(RESULTS, name + ".json")
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    log("wrote " + path)


def uprobe_offsets(binary, symbol):
    """File offsets of `symbol`'s entry and of every RET in it (what the agent probes), from
    objdump: the entry's file offset is printed with -F, RETs are entry + (vaddr - start)."""
    out = subprocess.run(["objdump", "-d", "-F", "--no-show-raw-insn", "--disassemble=" + symbol, binary],
                         capture_output=True, text=True, check=True).stdout
    head = re.search(r"^([0-9a-f]+) <.*> \(File Offset: 0x([0-9a-f]+)\):", out, re.M)
    if not head:
        raise RuntimeError("symbol %s not found in %s" % (symbol, binary))
    start, file_off = int(head.group(1), 16), int(head.group(2), 16)
    rets = [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s+ret", out, re.M)]
    return [file_off] + [file_off + r - start for r in rets]


def cpu_seconds_of(pid):
    """utime + stime of a live process from /proc (clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB."""
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


class Agent:
    """dwcp-observer attached to one PID, on a free loopback port."""

    def __init__(self, pid, args=(), env=None):
        self.log_file = tempfile.TemporaryFile(mode="w+")
        # The benchmarks measure what the probes cost with every probe live: the default budget
        # (2 %) is off unless a benchmark passes a --probe-budget* option, i.e. is about the
        # budget (bench_small_send.py: its interval alone means "the default budget").
        budget = [] if any(a.startswith("--probe-budget") for a in args) else ["--probe-budget", "0"]
        cmd = [AGENT, "--pid", str(pid), "--listen", "127.0.0.1:0"] + list(args) + budget
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log_file,
                                     env=dict(os.environ, **(env or {})))
        deadline = time.time() + 30
        self.address = None
        while time.time() < deadline and not self.address:
            m = re.search(r"serving http://([0-9.]+:\d+)/metrics", self.log())
            if m:
                self.address = m.group(1)
            elif self.proc.poll() is not None:
                raise RuntimeError("agent exited: " + self.log())
            else:
                time.sleep(0.02)
        if not self.address:
            raise TimeoutError("agent did not start: " + self.log())
        m = re.search(r"attached (\d+) uprobes", self.log())
        self.sites = int(m.group(1)) if m else 0

    def log(self):
        self.log_file.seek(0)
        return self.log_file.read()

    def get(self, path="/metrics", timeout=30):
        with urllib.request.urlopen("http://%s%s" % (self.address, path), timeout=timeout) as r:
            return r.read().decode()

    def samples(self):
        return parse_exposition(self.get())

    def stop(self):
        if self.log_file.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Bpftrace:
    """bpftrace running a script with BINARY_PATH replaced and the PID as $1; attached once it
    prints "Attaching N probes..." (its probes are live when that line is out and it starts
    polling; a short settle follows)."""

    def __init__(self, script_path, binary, pid):
        with open(script_path) as f:
            text = f.read().replace("BINARY_PATH", binary)
        fd, self.script = tempfile.mkstemp(suffix=".bt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([BPFTRACE, self.script, str(pid)], stdout=self.out,
                                     stderr=subprocess.STDOUT, preexec_fn=_raise_memlock)
        deadline = time.time() + 60
        while time.time() < deadline:
            if "Attaching" in self.output():
                time.sleep(0.5)
                return
            if self.proc.poll() is not None:
                raise RuntimeError("bpftrace exited: " + self.output())
            time.sleep(0.05)
        raise TimeoutError("bpftrace did not attach: " + self.output())

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        """SIGINT runs END (prints the maps); returns {map: {key: value}}. Idempotent."""
        if self.out.closed:
            return {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.output()
        self.out.close()
        os.unlink(self.script)
        maps = {}
        for m in re.finditer(r"^@(\w+)\[(\d+)\]: (\d+)", text, re.M):
            maps.setdefault(m.group(1), {})[m.group(2)] = int(m.group(3))
        if "Lost" in text:
            maps["lost_lines"] = re.findall(r".*Lost.*", text)
        return maps


def _raise_memlock():
    # Debian's bpftrace warns that it cannot raise RLIMIT_MEMLOCK; kernels >= 5.11 charge BPF
    # memory to the cgroup instead, so the limit does not matter, but keep the log clean.
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


class EmptyFloor:
    """empty_uprobes holding uprobes with an empty program on the given offsets."""

    def __init__(self, pid, binary, offsets):
        self.proc = subprocess.Popen([os.path.join(TOOLS, "empty_uprobes"), str(pid), binary] +
                                     [str(o) for o in offsets], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ATTACHED"):
            raise RuntimeError("empty_uprobes failed: " + line + self.proc.stderr.read())
        self.mode = line.split()[2]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(15)


class FixtureRun:
    """One fixture run: started waiting for SIGUSR1 (so an observer can attach first), then timed
    from the signal to its DONE line (wall) and from the signal to its exit (CPU, getrusage of
    the child minus what it had used while waiting)."""

    def __init__(self, args, binary=None):
        self.dir = tempfile.mkdtemp(prefix="dwcp-perf-")
        self.truth_path = os.path.join(self.dir, "truth.json")
        self.binary = binary or FIXTURE
        cmd = [self.binary, "--wait-signal", "--truth", self.truth_path, "--listen", "127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_raise_nofile)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError("fixture did not start: %r %s" % (line, self.proc.stderr.read()))
        self.pid = self.proc.pid

    def run(self, timeout=300):
        cpu_before = cpu_seconds_of(self.pid)
        start = time.monotonic()
        os.kill(self.pid, signal.SIGUSR1)
        done = None
        for line in self.proc.stdout:
            if line.startswith("DONE"):
                done = time.monotonic()
                break
        if done is None:
            raise RuntimeError("fixture ended without DONE: " + self.proc.stderr.read())
        _, status, usage = os.wait4(self.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.proc.returncode != 0:
            raise RuntimeError("fixture failed (%d): %s" % (self.proc.returncode, self.proc.stderr.read()))
        with open(self.truth_path) as f:
            self.truth = json.load(f)
        self.wall = done - start
        self.cpu = usage.ru_utime + usage.ru_stime - cpu_before
        return self

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_settled(agent, name, want, timeout=10, **labels):
    """Polls until the agent's `name` total (of the series with `labels`) reaches `want` (the
    ring buffer is drained every 50 ms), returns the last samples."""
    deadline = time.time() + timeout
    while True:
        samples = agent.samples()
        if (value(samples, name, **labels) or 0) >= want or time.time() > deadline:
            return samples
        time.sleep(0.05)


def fmt(s, unit="", digits=3):
    return "%.*g / %.*g / %.*g%s" % (digits, s["min"], digits, s["median"], digits, s["max"], unit)


class KernelBpfStats:
    """sysctl kernel.bpf_stats_enabled=1 for the duration (restored after): the kernel then
    keeps run_time_ns / run_cnt per BPF program. Used to compare the in-target BPF time of
    different observers; costs every program two clock reads per run while on."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.old = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.old)


def prog_ids_of(pid):
    """IDs of the BPF programs process `pid` holds fds of (from /proc/PID/fdinfo)."""
    ids = set()
    base = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(base):
        try:
            with open(os.path.join(base, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_run_stats(ids):
    """{name: (run_time_ns, run_cnt)} summed over the programs with these ids."""
    out = {}
    for pid in ids:
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid)], capture_output=True, text=True)
        if r.returncode != 0:
            continue
        p = json.loads(r.stdout)
        t, c = out.get(p.get("name", "?"), (0, 0))
        out[p.get("name", "?")] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
    return out
