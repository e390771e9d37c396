"""Issue 20: a start that fails touches no target. Everything is validated and the listening
socket bound (by the HTTP process) before the BPF object is even opened: a unit restarting
every few seconds on a port in use never puts a probe on DWCP. Checked with strace on every
thread and process of the agent: not one bpf() or perf_event_open() call."""
import shutil
import socket

from harness import AGENT, AgentTestCase, Fixture, IN_CI, require_bpf, run_agent
from targets import code_differences
from harness import fixture_path


class StartOrder(AgentTestCase):
    def test_busy_port_leaves_dwcp_untouched(self):
        require_bpf(self)
        strace = shutil.which("strace")
        if not strace:
            if IN_CI:
                self.fail("strace is not installed (scripts/setup.sh)")
            self.skipTest("strace is not installed")
        fixture = self.track(Fixture(args=["--transfers", "1"]))
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        trace = self.id() + ".strace"
        code, out = run_agent(["--pid", str(fixture.pid), "--listen", "127.0.0.1:%d" % port],
                              prefix=[strace, "-f", "-qq", "-e", "trace=bpf,perf_event_open", "-o", "/dev/stderr"])
        self.assertEqual(code, 6, out)  # kExitListen
        self.assertIn("127.0.0.1:%d" % port, out)
        calls = [l for l in out.splitlines() if "bpf(" in l or "perf_event_open(" in l]
        self.assertEqual(calls, [], out)
        self.assertEqual(code_differences(fixture.pid, fixture_path("dwcp-fixture")), 0)
