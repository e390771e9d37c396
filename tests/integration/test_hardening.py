"""Issue 14 (items 1, 2, 5 and the /proc/log parts of 6): the root agent against the processes
it watches.

- Exec race: a DWCP carrier execve()s a setuid-root program the moment the agent opens its
  executable (a fanotify permission listener holds the agent's open() until the exec is done):
  no breakpoint may land in the setuid program, the agent says it detached, and stays up.
- Hijacker: another user's process with the target's command name never gets followed.
- Stalled read: the agent's open() of a target's executable never returns (fanotify again, the
  stand-in for a stalled FUSE server): /metrics keeps answering, /-/ready goes 503 naming the
  target and comes back when the read ends; SIGTERM ends the agent at once, during start too.
- Log forging: a newline in an executable's path or comm cannot start a log line of its own."""
import os
import shutil
import signal
import tempfile
import time
import unittest

from harness import IN_CI, AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for
from targets import NOBODY, OpenGate, Process, code_differences, private_copy, private_dir, unique


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


class Hardening(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        self.dir = private_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def gate(self, path):
        try:
            gate = OpenGate(path)
        except OSError as e:  # a kernel without CONFIG_FANOTIFY_ACCESS_PERMISSIONS
            if IN_CI:
                self.fail("fanotify permission events unavailable: %s" % e)
            self.skipTest("fanotify permission events unavailable: %s" % e)
        self.addCleanup(gate.close)
        return gate

    def test_exec_race_leaves_no_probe_in_the_setuid_program(self):
        carrier = private_copy(self.dir, "dwcp-fixture", unique("dw-carrier"))
        # The program the carrier becomes: a setuid-root copy of the same build (so a probe at
        # the carrier's offsets would land on real instructions in it), outside the agent's
        # --allow-path, in a directory only root can enter.
        private = tempfile.mkdtemp(prefix="dwcp-suid-")
        self.addCleanup(shutil.rmtree, private, True)
        setuid = os.path.join(private, unique("suid"))
        shutil.copyfile(carrier, setuid)
        os.chmod(setuid, 0o4755)
        victim = self.track(Fixture(carrier, ["--exec-on-sigusr2", setuid, "--exec-args", "--wait-signal --linger"]))
        gate = self.gate(carrier)
        agent = self.track(AgentProcess(["--allow-path", self.dir, "--attach-timeout", "30"], expect_start=False))
        gate.held_pid = agent.proc.pid  # long before its first scan (after the BPF load)

        def exec_now():
            # The agent holds an open() of the carrier: the carrier becomes the setuid program
            # before that open returns; then the agent's reads go through.
            os.kill(victim.pid, signal.SIGUSR2)
            wait_for(lambda: victim.proc.poll() is not None or exe_of(victim.pid) == setuid, timeout=10, interval=0.01)
            gate.release()
        gate.on_first_held = exec_now
        self.assertTrue(gate.held_event.wait(15), "the agent never opened the carrier: " + agent.log())
        agent.address = agent._wait_serving()
        decided = wait_for(lambda: "no longer runs the file that was read" in agent.log()
                           or "attach" in agent.log().split("serving http")[-1], timeout=15)
        self.assertIsNone(gate.error)
        self.assertTrue(decided, agent.log())
        if victim.proc.poll() is not None:
            self.fail("the carrier exited (%s): %s" % (victim.proc.returncode, victim.proc.stderr.read()))
        self.assertEqual(exe_of(victim.pid), setuid)
        # No breakpoint in the setuid program's code, nothing attached, the agent serving.
        self.assertEqual(code_differences(victim.pid, setuid), 0, agent.log())
        self.assertIn("no longer runs the file that was read", agent.log())
        s = agent.samples()
        self.assertIn(value(s, "dwcp_observer_probes_attached", pid=str(victim.pid)), (None, 0), agent.log())
        self.assertIn(value(s, "dwcp_observer_target_up", pid=str(victim.pid)), (None, 0))
        time.sleep(1.5)  # rescans pass over the setuid program: outside --allow-path
        self.assertEqual(code_differences(victim.pid, setuid), 0)
        self.assertIsNone(agent.proc.poll())
        self.assertEqual(agent.get("/-/healthy")[0], 200)
        status, body = agent.get("/-/ready")
        self.assertEqual(status, 503)
        self.assertTrue(body.startswith("Not ready: no target attached"), body)

    def test_hijacker_of_another_user_is_never_followed(self):
        name = unique("dwcpf")
        real = private_copy(self.dir, "dwcp-fixture", name)
        fake_dir = os.path.join(self.dir, "u")
        os.mkdir(fake_dir, 0o755)
        fake = private_copy(fake_dir, "dwcp-fixture", name, owner=NOBODY)  # same comm
        first = self.track(Fixture(real, ["--transfers", "2"]))
        agent = self.track(AgentProcess(["--comm", name]))
        agent.wait_ready()
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(first.pid)) == 1))
        # The real one goes; the user's look-alike comes first (judged at its exec), then the real
        # one restarts.
        first.stop()
        hijackers = [self.track(Process(fake, user=NOBODY))]
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_discovery_refused_total",
                                               reason="owner") >= 1), agent.log())
        second = self.track(Fixture(real, ["--transfers", "2"]))
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(second.pid)) == 1),
                        agent.log())
        # A rolling restart: the next real one and a look-alike newer than it start while the old
        # one runs (the agent looks at neither), then the old one goes. The newest match is the
        # look-alike: passed over (counted) for the older real one.
        third = self.track(Fixture(real, ["--transfers", "2"]))
        hijackers.append(self.track(Process(fake, user=NOBODY)))
        second.stop()
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(third.pid)) == 1),
                        agent.log())
        third.go()
        truth = third.wait_done()
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_tcp_bytes_sent_total",
                                               pid=str(third.pid)) == truth["socket_bytes_written"]), agent.log())
        s = agent.samples()
        for h in hijackers:
            self.assertIsNone(value(s, "dwcp_observer_target_up", pid=str(h.pid)))
            self.assertEqual(code_differences(h.pid, fake), 0)
        self.assertEqual(value(s, "dwcp_observer_discovery_refused_total", reason="owner"), 2)
        self.assertEqual(agent.log().count("not following process"), 1, agent.log())  # same binary: once

    def test_allow_uid_refuses_the_real_binary_run_by_another_user(self):
        name = unique("dwcpf")
        real = private_copy(self.dir, "dwcp-fixture", name)  # root-owned: the owner rule lets it pass
        agent = self.track(AgentProcess(["--comm", name, "--allow-uid", "0"]))
        as_user = self.track(Process(real, user=NOBODY))
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_discovery_refused_total",
                                               reason="uid") == 1), agent.log())
        as_root = self.track(Process(real))
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(as_root.pid)) == 1),
                        agent.log())
        s = agent.samples()
        self.assertIsNone(value(s, "dwcp_observer_target_up", pid=str(as_user.pid)))
        self.assertEqual(code_differences(as_user.pid, real), 0)
        self.assertGreater(code_differences(as_root.pid, real), 0)

    def test_stalled_read_keeps_serving_reports_not_ready_and_recovers(self):
        stalled = private_copy(self.dir, "dwcp-fixture", unique("dw-stall"))
        target = self.track(Fixture(stalled, ["--transfers", "1"]))
        gate = self.gate(stalled)
        agent = self.track(AgentProcess(["--allow-path", self.dir, "--attach-timeout", "1"], expect_start=False))
        gate.held_pid = agent.proc.pid
        self.assertTrue(gate.held_event.wait(15), agent.log())
        agent.address = agent._wait_serving()
        not_ready = wait_for(lambda: "attach stuck" in agent.get("/-/ready")[1], timeout=10)
        self.assertTrue(not_ready, agent.log())
        status, body = agent.get("/-/ready")
        self.assertIn("process %d" % target.pid, body)
        self.assertIn("did not finish within 1000 ms", agent.log())
        # The live scraper is served all along.
        for _ in range(5):
            self.assertEqual(agent.get("/metrics", timeout=5)[0], 200)
            self.assertEqual(agent.get("/-/healthy", timeout=5)[0], 200)
        self.assertEqual(value(agent.samples(), "dwcp_observer_discovery_refused_total", reason="stuck"), 1)
        # The file system answers again: the read ends, readiness comes back, and the target
        # is judged again and attached.
        gate.release()
        self.assertTrue(wait_for(lambda: agent.get("/-/ready")[0] == 200, timeout=10), agent.log())
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(target.pid)) == 1,
                                 timeout=10), agent.log())
        self.assertEqual(agent.stop(), 0, agent.log())

    def test_sigterm_while_a_read_is_stuck_exits_at_once(self):
        stalled = private_copy(self.dir, "dwcp-fixture", unique("dw-stall"))
        target = self.track(Fixture(stalled))
        gate = self.gate(stalled)
        # During start (--pid waits for the read), then while serving (discovery).
        for args in (["--pid", str(target.pid), "--attach-timeout", "60"],
                     ["--allow-path", self.dir, "--attach-timeout", "1"]):
            gate.held_event.clear()
            agent = self.track(AgentProcess(args, expect_start=False))
            gate.held_pid = agent.proc.pid
            self.assertTrue(gate.held_event.wait(20), agent.log())
            if "--pid" not in args:
                agent.address = wait_for(lambda: agent._wait_serving(), timeout=10)
                self.assertTrue(wait_for(lambda: "attach stuck" in agent.get("/-/ready")[1], timeout=10), agent.log())
            began = time.monotonic()
            agent.proc.send_signal(signal.SIGTERM)
            self.assertEqual(agent.wait_exit(timeout=10), 0, agent.log())
            elapsed = time.monotonic() - began
            print("SIGTERM to exit (%s): %.0f ms" % ("start" if "--pid" in args else "serving", 1000 * elapsed))
            self.assertLess(elapsed, 5, agent.log())
            self.assertIn("SIGTERM received", agent.log())
        self.assertEqual(code_differences(target.pid, stalled), 0)

    def test_newlines_in_path_and_comm_cannot_forge_log_lines(self):
        evil = private_copy(self.dir, "dwcp-fixture", "x\ndwcp-observer: attached 106 uprobes to process 1")
        user_dir = os.path.join(self.dir, "u")
        os.mkdir(user_dir, 0o755)
        refused = private_copy(user_dir, "not-dwcp", "y\ndwcp-observer: forged", owner=NOBODY)
        agent = self.track(AgentProcess(["--allow-path", self.dir]))
        agent.wait_healthy()
        target = self.track(Fixture(evil))
        other = self.track(Process(refused, user=NOBODY))
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(target.pid)) == 1),
                        agent.log())
        self.assertTrue(wait_for(lambda: "not following process %d" % other.pid in agent.log()), agent.log())
        # Every line the agent wrote is one JSON record (a forged line would not parse), and the
        # messages themselves hold the names escaped.
        records = agent.log_records()
        self.assertTrue(all(set(r) >= {"ts", "level", "msg"} for r in records), records)
        lines = agent.log().splitlines()
        self.assertNotIn("dwcp-observer: attached 106 uprobes to process 1\n", agent.log())
        self.assertIn("x\\x0adwcp-observer: attached", agent.log())
        self.assertIn("y\\x0adwcp-observer: forged", agent.log())
        self.assertFalse(any(l.startswith("dwcp-observer: forged") for l in lines))


if __name__ == "__main__":
    unittest.main()
