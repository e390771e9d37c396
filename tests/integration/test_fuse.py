"""Issue 20: FUSE against the root agent, as a hostile local user does it. A FUSE server of an
unprivileged user (allow_other) serves a DWCP-like executable and claims it is root's, mode 0755:

- By default it is neither followed nor read: refused before anything of the file is opened
  (the server sees no OPEN or READ from the agent), counted as reason "file_system", both by
  discovery and for --pid.
- With --allow-fs (the operator vouches for the file system) and the server holding every
  request unanswered: SIGTERM ends the agent within a second, during start and while serving
  (the stuck read is the agent's read helper's, agent/executable_fetch.h, not the agent's)."""
import os
import signal
import time

from fuse_server import FuseFile
from harness import IN_CI, AgentProcess, AgentTestCase, Fixture, fixture_path, require_bpf, value, wait_for
from targets import NOBODY, code_differences


def tasks_of(pid):
    try:
        return {int(t) for t in os.listdir("/proc/%d/task" % pid)}
    except OSError:
        return set()


class Fuse(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        with open(fixture_path("dwcp-fixture"), "rb") as f:
            content = f.read()
        try:
            self.fs = FuseFile(content, "dwcp", owner_uid=NOBODY)
        except OSError as e:
            if IN_CI:
                self.fail("cannot mount a FUSE file system: %s" % e)
            self.skipTest("cannot mount a FUSE file system: %s" % e)

    def tearDown(self):
        # First the file system: a request held unanswered keeps its caller in the kernel until
        # the server's connection goes.
        self.fs.close()
        super().tearDown()

    def foreign_requests(self, target, ops=("OPEN", "READ")):
        """Requests of the watched kinds by anyone but the target's own threads."""
        own = tasks_of(target.pid)
        return [r for r in self.fs.requests() if r[0] in ops and r[1] not in own]

    def test_fuse_executable_is_neither_followed_nor_read(self):
        target = self.track(Fixture(self.fs.path, ["--transfers", "1"]))
        self.assertEqual(os.stat(self.fs.path).st_uid, 0)  # the server's claim: root's, 0755
        agent = self.track(AgentProcess(["--allow-path", self.fs.mountpoint]))
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_discovery_refused_total",
                                               reason="file_system") == 1), agent.log())
        self.assertIn("fuse.dwcptest", agent.log())
        time.sleep(2.5)  # rescans pass over it without a word and without a read
        s = agent.samples()
        self.assertEqual(value(s, "dwcp_observer_discovery_refused_total", reason="file_system"), 1)
        self.assertIsNone(value(s, "dwcp_observer_target_up", pid=str(target.pid)))
        self.assertEqual(self.foreign_requests(target), [])
        self.assertEqual(agent.stop(), 0)

        # Named by PID: refused all the same, before any read.
        agent = self.track(AgentProcess(["--pid", str(target.pid)], expect_start=False))
        self.assertEqual(agent.wait_exit(), 3, agent.log())
        self.assertIn("file system of type \"fuse.dwcptest\"", agent.log())
        self.assertEqual(self.foreign_requests(target), [])
        self.assertEqual(code_differences(target.pid, self.fs.path), 0)

    def test_sigterm_with_a_fuse_read_held_unanswered_exits_within_a_second(self):
        target = self.track(Fixture(self.fs.path))
        self.fs.stall()
        allow = ["--allow-fs", self.fs.fs_type]
        for args in (["--pid", str(target.pid), "--attach-timeout", "60"] + allow,
                     ["--allow-path", self.fs.mountpoint, "--attach-timeout", "1"] + allow):
            held_before = len(self.foreign_requests(target, ops=("OPEN", "READ", "GETATTR", "STATFS")))
            agent = self.track(AgentProcess(args, expect_start=False))
            self.assertTrue(wait_for(lambda: len(self.foreign_requests(target, ("OPEN", "READ", "GETATTR", "STATFS")))
                                     > held_before, timeout=20), agent.log())
            if "--pid" not in args:
                agent.address = agent._wait_serving()
                self.assertTrue(wait_for(lambda: "attach stuck" in agent.get("/-/ready")[1], timeout=10), agent.log())
                self.assertEqual(agent.get("/metrics", timeout=5)[0], 200)
            began = time.monotonic()
            agent.proc.send_signal(signal.SIGTERM)
            self.assertEqual(agent.wait_exit(timeout=10), 0, agent.log())
            elapsed = time.monotonic() - began
            print("SIGTERM to exit with a FUSE request held (%s): %.0f ms" %
                  ("start" if "--pid" in args else "serving", 1000 * elapsed))
            self.assertLess(elapsed, 1.0, agent.log())
            self.assertIn("SIGTERM received", agent.log())
        held = [r for r in self.fs.requests() if not r[2]]
        self.assertTrue(held, self.fs.requests())
