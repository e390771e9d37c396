"""Issue 20, "seccomp allow-lists for both processes": the agent, its HTTP process and its read
helper each run under a seccomp filter (agent/syscall_filter.h), every thread of them, while the
agent counts a transferring fixture exactly; --no-seccomp (debugging) loads none. That a call
outside a list is refused (killed, or EPERM for the agent) is shown by the unit test
(tests/agent/syscall_filter_test.cpp); here every path of a real run must get along with the lists,
and the other integration suites run under the filters too."""
import os

from fuse_server import FuseFile
from harness import (IN_CI, AgentProcess, AgentTestCase, Fixture, bpf_links, fixture_path, require_bpf,
                     status_of, wait_for, wait_for_transfer)
from targets import NOBODY


def tasks(pid):
    return [int(t) for t in os.listdir("/proc/%d/task" % pid)]


def children_of(pid):
    out = []
    for task in tasks(pid):
        with open("/proc/%d/task/%d/children" % (pid, task)) as f:
            out += [int(c) for c in f.read().split()]
    return out


class Seccomp(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)

    def assert_filtered(self, pid, what, mode="2"):
        """Every thread of pid in seccomp mode `mode` (2: filter)."""
        for task in tasks(pid):
            st = status_of(pid, task)
            self.assertEqual(st["Seccomp"], mode, "%s, thread %d" % (what, task))

    def test_agent_and_http_process_run_filtered_while_counting_exactly(self):
        fixture = self.track(Fixture(args=["--streams", "3", "--transfers", "6"]))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        self.assertIn("seccomp: system call filter on", agent.log())
        [child] = children_of(agent.proc.pid)
        fixture.go()
        truth = fixture.wait_done()
        samples = wait_for_transfer(agent.samples, truth, fixture.pid)
        self.assert_transfer_exact(samples, truth, fixture.pid)
        # After the run, with every thread started (consumer, readers, the HTTP process's pools).
        self.assertGreaterEqual(len(tasks(child)), 4)
        self.assert_filtered(agent.proc.pid, "agent")
        self.assert_filtered(child, "HTTP process")
        self.assertIn("seccomp=filter", agent.log())  # the HTTP process's own report
        self.assertEqual(agent.stop(), 0, agent.log())

    def test_read_helper_runs_under_its_own_filter(self):
        # The helper lives as long as its copy of the executable: a FUSE file whose reads are held
        # unanswered (--allow-fs lets the agent read it) keeps it alive while it copies.
        with open(fixture_path("dwcp-fixture"), "rb") as f:
            content = f.read()
        try:
            fs = FuseFile(content, "dwcp", owner_uid=NOBODY)
        except OSError as e:
            if IN_CI:
                self.fail("cannot mount a FUSE file system: %s" % e)
            self.skipTest("cannot mount a FUSE file system: %s" % e)
        try:
            self.helper_under_fuse_read(fs)
        finally:
            # Before the check for links left behind: the helper, stuck in the held read, holds the
            # agent's descriptors (fork) until the file system's connection goes.
            fs.close()

    def helper_under_fuse_read(self, fs):
        target = self.track(Fixture(fs.path))
        # The pages the target has not mapped (symbols, DWARF) out of the cache: the helper's copy
        # must ask the server for them.
        fd = os.open(fs.path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        fs.stall(ops=("READ",))
        agent = self.track(AgentProcess(["--pid", str(target.pid), "--allow-fs", fs.fs_type, "--attach-timeout", "60"],
                                        expect_start=False))
        own = set(tasks(target.pid))
        held = lambda: [r for r in fs.requests() if r[0] == "READ" and not r[2] and r[1] not in own]
        self.assertTrue(wait_for(held, timeout=20), agent.log() + str(fs.requests()))
        helper = held()[0][1]
        self.assertIn(helper, children_of(agent.proc.pid))
        st = status_of(helper)
        self.assertEqual(st["Seccomp"], "2")
        if "Seccomp_filters" in st:  # 5.9+: the agent's filter, inherited, and the helper's own
            self.assertEqual(st["Seccomp_filters"], "2")
        self.assertEqual(st["CapEff"], "0000000000000000")
        self.assert_filtered(agent.proc.pid, "agent")
        self.assertEqual(agent.stop(), 0, agent.log())
        # The helper may outlive the agent, stuck in the held read (a sent FUSE request waits for
        # its answer whatever the signal); it closed the agent's descriptors at its start, so the
        # BPF links went with the agent all the same.
        print("read helper %s after the agent exited" %
              ("still stuck" if os.path.exists("/proc/%d" % helper) else "gone"))
        self.assertTrue(wait_for(lambda: not (agent.owned_links & bpf_links()), timeout=10),
                        "BPF links left behind while the read helper is stuck: %s" % (agent.owned_links & bpf_links()))

    def test_no_seccomp_loads_no_filter(self):
        fixture = self.track(Fixture())
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--no-seccomp"]))
        agent.wait_ready()
        [child] = children_of(agent.proc.pid)
        self.assert_filtered(agent.proc.pid, "agent", mode="0")
        self.assert_filtered(child, "HTTP process", mode="0")
        self.assertIn("seccomp: system call filters off (--no-seccomp)", agent.log())
        self.assertEqual(agent.stop(), 0, agent.log())


if __name__ == "__main__":
    import unittest
    unittest.main()
