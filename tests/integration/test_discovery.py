"""Issue 11 (discovery): started with no --pid/--comm/--exe, the agent finds DWCP processes
started after it — a plain build and a stripped PIE — and counts each exactly under its own
`target`/`pid` labels; it ignores a Go program without DWCP and a DWCP-like binary owned by an
unprivileged user (never read, no probe in it), and picks up a restart under the same target.

The agent runs with --allow-path limited to this test's own directory, so that it does not
attach to other fixtures running on the machine; the policy's default rules (root-owned, not
writable by group or others) are what keeps the other user's binary out."""
import os
import shutil
import unittest

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for
from targets import NOBODY, Process, code_differences, private_copy, private_dir, unique

TRANSFER = ["--streams", "3", "--transfers", "4", "--transfer-size", str(2 * 65536 + 777)]


class Discovery(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        self.dir = private_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def attached(self, agent, pid, timeout=15):
        return wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(pid)) == 1
                        and value(agent.samples(), "dwcp_observer_probes_attached", pid=str(pid)) > 0,
                        timeout=timeout)

    def settle(self, agent, target, pid, truths):
        """Samples once the target's counters reached the sum of `truths` (and the pid's socket
        bytes the last truth's)."""
        sent = sum(sum(t["bytes_sent_per_stream"].values()) for t in truths)
        received = sum(sum(t["bytes_received_per_stream"].values()) for t in truths)

        def arrived():
            s = agent.samples()
            ok = (value(s, "dwcp_amst_bytes_sent_total", target=target) == sent
                  and value(s, "dwcp_amst_bytes_received_total", target=target) == received
                  and value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(pid)) == truths[-1]["socket_bytes_written"])
            return s if ok else None
        return wait_for(arrived, timeout=30) or agent.samples()

    def check_exact(self, s, target, pid, truths):
        for name, key in (("dwcp_amst_bytes_sent_total", "bytes_sent_per_stream"),
                          ("dwcp_amst_bytes_received_total", "bytes_received_per_stream")):
            expected = {}
            for t in truths:
                for stream_id, n in t[key].items():
                    expected[stream_id] = expected.get(stream_id, 0) + n
            for stream_id, n in expected.items():
                self.assertEqual(value(s, name, target=target, stream_id=stream_id, cluster="test"), n,
                                 "%s{target=%s,stream_id=%s}" % (name, target, stream_id))
        self.assertEqual(value(s, "dwcp_amst_streams_total", target=target, result="success"),
                         sum(t["streams_opened"] for t in truths), target)
        self.assertEqual(value(s, "dwcp_amst_latency_seconds_count", target=target, operation="send"),
                         sum(t["sends"] for t in truths), target)
        self.assertEqual(value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(pid)), truths[-1]["socket_bytes_written"])
        self.assertEqual(value(s, "dwcp_observer_tcp_bytes_received_total", pid=str(pid)), truths[-1]["socket_bytes_read"])
        self.assertEqual(value(s, "dwcp_observer_target_up", pid=str(pid), target=target), 1)

    def test_finds_two_builds_ignores_others_and_follows_a_restart(self):
        plain_name, spie_name = unique("dw-plain"), unique("dw-spie")
        plain = private_copy(self.dir, "dwcp-fixture", plain_name)
        spie = private_copy(self.dir, "dwcp-fixture-stripped-pie", spie_name)
        other = private_copy(self.dir, "not-dwcp", unique("notdw"))
        users = private_copy(self.dir, "dwcp-fixture", unique("dw-user"), owner=NOBODY)

        agent = self.track(AgentProcess(["--allow-path", self.dir, "--cluster", "test", "--node", "n1"]))
        agent.wait_healthy()
        # Nothing found yet: not ready, and the body says why.
        self.assertEqual(agent.get("/-/ready"), (503, "Not ready: no target attached: no DWCP process discovered yet\n"))
        # Everything starts after the agent: it must find them by itself.
        a = self.track(Fixture(plain, TRANSFER))
        b = self.track(Fixture(spie, TRANSFER))
        not_dwcp = self.track(Process(other))
        fake = self.track(Process(users, user=NOBODY))

        self.assertTrue(self.attached(agent, a.pid), agent.log())
        self.assertTrue(self.attached(agent, b.pid), agent.log())
        a.go()
        b.go()
        truth_a, truth_b = a.wait_done(), b.wait_done()
        s = self.settle(agent, plain_name, a.pid, [truth_a])
        s = self.settle(agent, spie_name, b.pid, [truth_b])
        self.check_exact(s, plain_name, a.pid, [truth_a])
        self.check_exact(s, spie_name, b.pid, [truth_b])
        # The probes are really in the two DWCP processes (the check below can see them) ...
        self.assertGreater(code_differences(a.pid, plain), 0)
        self.assertGreater(code_differences(b.pid, spie), 0)
        # ... and nowhere else: not in the Go program without DWCP, not in the other user's copy.
        for ignored in (not_dwcp, fake):
            self.assertIsNone(value(s, "dwcp_observer_target_up", pid=str(ignored.pid)), agent.log())
        self.assertEqual(code_differences(not_dwcp.pid, other), 0)
        self.assertEqual(code_differences(fake.pid, users), 0)
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_discovery_refused_total", reason="owner") >= 1),
                        agent.log())
        self.assertIn("not following process %d (%s" % (fake.pid, users), agent.log())
        self.assertEqual(agent.log().count("not following process %d " % fake.pid), 1, agent.log())

        # Restart: the same program comes back as a new process; its counters continue under
        # the same target, the new pid gets its own socket counters.
        old_pid = a.pid
        a.stop()
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_target_up", pid=str(old_pid)) == 0),
                        agent.log())
        a2 = self.track(Fixture(plain, TRANSFER))
        self.assertTrue(self.attached(agent, a2.pid), agent.log())
        a2.go()
        truth_a2 = a2.wait_done()
        s = self.settle(agent, plain_name, a2.pid, [truth_a, truth_a2])
        self.check_exact(s, plain_name, a2.pid, [truth_a, truth_a2])
        # The predecessor's pid series go (a stale target_up 0 would keep the target-down alert on).
        self.assertIsNone(value(s, "dwcp_observer_target_up", pid=str(old_pid)))
        self.check_exact(s, spie_name, b.pid, [truth_b])  # the other target is untouched
        self.assertEqual(agent.stop(), 0, agent.log())

    def test_a_transfer_at_once_after_exec_is_counted_from_its_first_byte(self):
        """The kernel reports the exec (sched_process_exec): the probes are in before a transfer
        that starts 40 ms after exec (--start-delay counts from main; Go's start-up comes before)
        sends its first byte. Kernel socket bytes, streams opened and Sends count only what the
        probes and tracepoints saw, so any byte before the attach would show as a difference.
        The executable is a fresh copy the agent has never seen (a new build, a new image layer:
        a restart after an upgrade), so it is read and parsed from scratch on the way: the
        probes that read no struct field go in before the DWARF is read (docs/performance.md)."""
        name = unique("dw-fast")
        path = private_copy(self.dir, "dwcp-fixture", name)  # a new file: a new identity
        agent = self.track(AgentProcess(["--allow-path", self.dir, "--cluster", "test"]))
        agent.wait_healthy()
        self.assertEqual(value(agent.samples(), "dwcp_observer_kernel_feature", feature="discovery",
                               mechanism="exec_tracepoint"), 1)
        fast = self.track(Fixture(path, TRANSFER + ["--start-delay", "40ms"], wait_signal=False))
        truth = fast.wait_done()
        s = self.settle(agent, name, fast.pid, [truth])
        self.check_exact(s, name, fast.pid, [truth])
        self.assertEqual(agent.stop(), 0, agent.log())

    def test_without_exec_events_the_proc_scan_still_finds_processes(self):
        name = unique("dw-scan")
        agent = self.track(AgentProcess(["--allow-path", self.dir], env=dict(
            os.environ, DWCP_OBSERVER_DISABLE_FEATURES="exec_events")))
        agent.wait_healthy()
        self.assertEqual(value(agent.samples(), "dwcp_observer_kernel_feature", feature="discovery",
                               mechanism="proc_scan"), 1)
        fx = self.track(Fixture(private_copy(self.dir, "dwcp-fixture", name)))
        self.assertTrue(self.attached(agent, fx.pid), agent.log())
        self.assertIn("process execs by /proc scans only", agent.log())

    def test_long_comm_warns_and_matches_the_15_characters_the_kernel_keeps(self):
        name = "dw%06x-long-command-name" % int.from_bytes(os.urandom(3), "little")  # comm keeps 15
        target = self.track(Fixture(private_copy(self.dir, "dwcp-fixture", name)))
        agent = self.track(AgentProcess(["--comm", name]))
        self.assertIn("--comm %s is longer than 15 characters" % name, agent.log())
        self.assertIn('matches "%s"' % name[:15], agent.log())
        self.assertTrue(self.attached(agent, target.pid), agent.log())


if __name__ == "__main__":
    unittest.main()
