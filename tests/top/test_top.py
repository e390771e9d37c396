"""`dwcp-observer top` against the real agent attached to a DWCP fixture doing rate-limited
transfers: the live view in tmux (capture-pane), keys, exit code, and the non-terminal snapshot.
The screen's per-stream MB/s must be within 10 % of the fixture's own rate (its --rate, checked
against its ground truth at the end), and the header must show the agent's own figures.

Run by CTest as a script: exit 77 (skipped) when BPF or tmux is unavailable, except under
CI=true where that is a failure."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (AGENT, IN_CI, AgentProcess, Fixture, bpf_unavailable_reason, bpf_links,  # noqa: E402
                     parse_exposition, value, wait_for)

STREAMS = 4
RATE = 8  # transfers per second
TRANSFER = 1 << 20
CHUNK = 65536
DURATION = 24  # seconds of transfers
# Each transfer is split into chunks, chunk c on stream c mod STREAMS; each chunk carries 8
# header bytes, counted in the stream's bytes (docs/metrics.md).
CHUNKS_PER_STREAM = TRANSFER // CHUNK // STREAMS
EXPECTED_STREAM_BPS = RATE * CHUNKS_PER_STREAM * (CHUNK + 8)

ROW = re.compile(r"^  (\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s*$")


def unavailable():
    reason = bpf_unavailable_reason()
    if reason:
        return reason
    if not shutil.which("tmux"):
        return "tmux not installed (scripts/setup.sh installs it)"
    return None


def stream_rows(screen):
    """{stream id: (send MB/s, recv MB/s, share %)} from the stream table."""
    rows = {}
    for line in screen.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)), float(m.group(4)))
    return rows


class Top(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.links_before = bpf_links()
        cls.fixture = Fixture(args=["--workload", "amst", "--streams", str(STREAMS), "--transfers", "0",
                                    "--transfer-size", str(TRANSFER), "--chunk-size", str(CHUNK),
                                    "--rate", str(RATE), "--duration", "%ds" % DURATION])
        try:
            cls.agent = AgentProcess(["--pid", str(cls.fixture.pid)])
            cls.agent.wait_ready()
        except Exception:
            cls.fixture.stop()
            raise
        cls.url = "http://%s/metrics" % cls.agent.address
        cls.fixture.go()
        cls.started = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="dwcp-top-test-")
        # A tmux server of its own, its socket in the test's temp dir (removed with it).
        cls.tmux = ["tmux", "-S", os.path.join(cls.tmp, "tmux.sock"), "-f", "/dev/null"]

    @classmethod
    def tearDownClass(cls):
        subprocess.run(cls.tmux + ["kill-server"], capture_output=True)
        cls.agent.stop()
        cls.fixture.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def wait_until_running_for(self, seconds):
        delay = self.started + seconds - time.time()
        if delay > 0:
            time.sleep(delay)

    def samples(self):
        return parse_exposition(self.agent.metrics())

    def assert_rates(self, rows, where):
        self.assertEqual(sorted(rows), [str(i) for i in range(STREAMS)], where)
        for stream, (send, recv, share) in rows.items():
            for what, mbps in (("send", send), ("recv", recv)):
                self.assertLessEqual(abs(mbps * 1e6 - EXPECTED_STREAM_BPS), 0.10 * EXPECTED_STREAM_BPS,
                                     "%s: stream %s %s %.2f MB/s, fixture's rate %.2f MB/s\n%s"
                                     % (where, stream, what, mbps, EXPECTED_STREAM_BPS / 1e6, where))
            # Streams carry equal shares of the session.
            self.assertLessEqual(abs(share - 100.0 / STREAMS), 0.10 * 100.0 / STREAMS, where)

    def test_1_snapshot_when_stdout_is_not_a_terminal(self):
        self.wait_until_running_for(2)
        env = dict(os.environ, COLUMNS="100")
        env.pop("NO_COLOR", None)
        t0 = time.time()
        out = subprocess.run([AGENT, "top", self.url, "--interval", "5"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertGreaterEqual(time.time() - t0, 5)  # two scrapes --interval apart, then one snapshot
        snap = out.stdout
        self.assertNotIn("\x1b", snap, "no escape sequences when stdout is not a terminal")
        self.assertEqual(snap.count("dwcp-observer top"), 1, snap)
        self.assertRegex(snap, r"rates over 5\.\ds")  # the two scrapes' own timestamps
        self.assertIn("target pid-%d pid %d up" % (self.fixture.pid, self.fixture.pid), snap)
        self.assert_rates(stream_rows(snap), snap)
        # The snapshot lists what a script needs on stable lines.
        for heading in ("STREAM", "AMST LATENCY", "HDE", "migrations", "federation", "sorted by activity"):
            self.assertIn(heading, snap)
        # An agent that is not there: an error on stderr, exit 1, nothing on stdout.
        gone = subprocess.run([AGENT, "top", "http://127.0.0.1:1/metrics", "--interval", "0.2"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(gone.returncode, 1)
        self.assertEqual(gone.stdout, "")
        self.assertIn("cannot connect to 127.0.0.1:1", gone.stderr)

    def start_in_tmux(self, session, env_prefix="", size=(100, 30)):
        exit_file = os.path.join(self.tmp, session + ".exit")
        command = "%s %s top %s; echo $? > %s" % (env_prefix, AGENT, self.url, exit_file)
        subprocess.run(self.tmux + ["new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]),
                                    command],
                       check=True, env=dict(os.environ, LANG="C.UTF-8"))
        return exit_file

    def capture(self, session, escapes=False):
        return subprocess.run(self.tmux + ["capture-pane", "-p", "-t", session] + (["-e"] if escapes else []),
                              capture_output=True, text=True, check=True).stdout

    def test_2_live_view_in_tmux(self):
        self.wait_until_running_for(4)
        exit_file = self.start_in_tmux("live")
        plain_exit = self.start_in_tmux("plain", "NO_COLOR=1", size=(80, 24))
        # The default window is 5 s of 1 s scrapes: wait until the screen says it is full.
        screen = wait_for(lambda: (lambda s: s if "rates over 5.0s" in s else None)(self.capture("live")),
                          timeout=20, interval=0.2)
        self.assertTrue(screen, self.capture("live"))
        before = self.samples()
        screen = self.capture("live")
        after = self.samples()
        coloured = self.capture("live", escapes=True)
        plain = self.capture("plain", escapes=True)

        # Per-stream MB/s within 10 % of the fixture's own rate.
        self.assert_rates(stream_rows(screen), screen)
        # The header's figures are the agent's.
        pid = str(self.fixture.pid)
        self.assertIn("target pid-%s pid %s up" % (pid, pid), screen)
        attached = value(after, "dwcp_observer_probes_attached", pid=pid)
        self.assertGreater(attached, 0)
        self.assertIn("probes %d attached, 0 demoted" % attached, screen)
        version = [dict(labels)["version"] for (name, labels) in after if name == "dwcp_system_version_info"]
        self.assertEqual(len(version), 1)
        self.assertIn("DWCP %s" % version[0], screen)
        lost = value(after, "dwcp_observer_events_lost_total")
        self.assertIn("lost %d" % lost, screen)
        overheads = {"overhead %.2f%%" % (100 * value(s, "dwcp_observer_probe_overhead_ratio")) for s in (before, after)}
        self.assertTrue(any(o in screen for o in overheads), (overheads, screen))
        self.assertRegex(screen, r"(agent|target) up \d+s")  # agent up from process_start_time_seconds
        # The session row: errors and retransmits are the agent's totals.
        errors = value(after, "dwcp_amst_errors_total") or 0
        self.assertRegex(screen, r"pid-%s \(%d\)\s+[\d.]+\s+[\d.]+\s+100%%\s+%d\s+\d+\s+\d+" % (pid, STREAMS, errors))
        # One Send per transfer: the latency table's send ops/s is the fixture's rate.
        send = re.search(r"^  send\s+\S+\s+\S+\s+([\d.]+)$", screen, re.M)
        self.assertTrue(send, screen)
        self.assertLessEqual(abs(float(send.group(1)) - RATE), 0.10 * RATE, screen)
        self.assertIn("q quit", screen)
        # Fits the 100x30 pane; colour unless NO_COLOR.
        self.assertTrue(all(len(line) <= 100 for line in screen.splitlines()))
        self.assertIn("\x1b[", coloured)
        # At 80x24 every section is there, top to bottom, with every stream.
        small = self.capture("plain")
        lines = small.rstrip("\n").splitlines()
        self.assertLessEqual(len(lines), 24, small)
        self.assertTrue(lines[0].startswith("dwcp-observer top"), small)
        self.assertTrue(lines[-1].startswith("q quit"), small)
        self.assert_rates(stream_rows(small), small)
        for heading in ("STREAM", "AMST LATENCY", "HDE", "migrations", "federation"):
            self.assertIn(heading, small)
        self.assertNotIn("\x1b[1m", plain)
        self.assertNotIn("\x1b[7m", plain)

        # Busiest streams first by default; `s` sorts by stream id, then by send: the footer says so.
        self.assertIn("s sort (activity)", screen)
        subprocess.run(self.tmux + ["send-keys", "-t", "live", "s", "s"], check=True)
        self.assertTrue(wait_for(lambda: "s sort (send)" in self.capture("live"), timeout=5), self.capture("live"))
        # `t` picks the (only) target, and again all.
        subprocess.run(self.tmux + ["send-keys", "-t", "live", "t"], check=True)
        self.assertTrue(wait_for(lambda: "t target (pid-%s)" % pid in self.capture("live"), timeout=5))
        # `q` quits with 0 and gives the terminal back.
        for session in ("live", "plain"):
            subprocess.run(self.tmux + ["send-keys", "-t", session, "q"], check=True)
        for path in (exit_file, plain_exit):
            self.assertTrue(wait_for(lambda: os.path.exists(path) and open(path).read().strip(), timeout=10),
                            "top did not exit on q")
            with open(path) as f:
                self.assertEqual(f.read().strip(), "0")

    def test_4_two_targets_agent_going_away_and_50x12(self):
        """A canned exposition of an agent with two targets, served and then withdrawn."""
        exposition = "".join(
            'dwcp_observer_target_up{pid="%d",target="%s"} 1\n'
            'dwcp_hde_delta_hit_rate_percent{cluster="c",node="n",target="%s"} %d\n'
            'dwcp_hde_bytes_original_total{cluster="c",node="n",target="%s"} 4000\n'
            'dwcp_hde_bytes_compressed_total{cluster="c",node="n",target="%s"} 1000\n'
            % (pid, name, name, hit, name, name) for pid, name, hit in ((11, "a", 20), (12, "b", 80)))
        exposition += "".join('dwcp_amst_bytes_sent_total{cluster="c",node="n",stream_id="%d",target="a"} %d\n'
                              % (i, i * 1000) for i in range(30))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = exposition.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/metrics" % server.server_address[1]
        try:
            for session, size in (("two", (100, 30)), ("tiny", (50, 12))):
                subprocess.run(self.tmux + ["new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]),
                                            "%s top %s --interval 0.5" % (AGENT, url)],
                               check=True, env=dict(os.environ, LANG="C.UTF-8"))
            two = wait_for(lambda: (lambda s: s if "delta hit" in s else None)(self.capture("two")), timeout=10)
            self.assertTrue(two, self.capture("two"))
            # Two targets' percentages combine by their mean (20 %, 80 %), not their sum.
            self.assertIn("delta hit 50.0%", two)
            self.assertIn("2 targets: a pid 11 up, b pid 12 up", two)
            shown = wait_for(lambda: (lambda s: s if "STREAM" in s else None)(self.capture("tiny")), timeout=10)
            self.assertTrue(shown, self.capture("tiny"))
            tiny = shown.rstrip("\n").splitlines()
            self.assertLessEqual(len(tiny), 12, tiny)
            self.assertTrue(all(len(line) <= 50 for line in tiny), tiny)
            self.assertTrue(any(line.startswith("STREAM") for line in tiny), tiny)
            self.assertTrue(any(re.match(r"^  \d+ ", line) for line in tiny), tiny)  # stream rows stay
            self.assertTrue(tiny[-1].startswith("q quit"), tiny)
        finally:
            server.shutdown()
            server.server_close()
        # The agent goes away: the header says so, targets are no longer "up".
        down = wait_for(lambda: (lambda s: s if "AGENT DOWN" in s else None)(self.capture("two")), timeout=10)
        self.assertTrue(down, self.capture("two"))
        self.assertNotIn("pid 11 up", down)
        for session in ("two", "tiny"):
            subprocess.run(self.tmux + ["kill-session", "-t", session], check=True)

    def test_3_fixture_ran_at_its_rate(self):
        # The reference of the 10 % checks: the fixture's ground truth says it sent RATE transfers
        # a second on every stream.
        truth = self.fixture.wait_done(timeout=DURATION + 60)
        for stream, sent in truth["bytes_sent_per_stream"].items():
            bps = sent / DURATION
            self.assertLessEqual(abs(bps - EXPECTED_STREAM_BPS), 0.05 * EXPECTED_STREAM_BPS, (stream, bps))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    skipped = len(result.skipped)
    if skipped and skipped >= result.testsRun:
        if IN_CI:
            print("FAIL: the top tests cannot run in CI: " + "; ".join(r for _, r in result.skipped))
            sys.exit(1)
        sys.exit(77)
