"""The probe budget is on by default (2 % of the target's CPU): on a workload of small Sends,
where the uprobe traps cost far more than that, the agent detaches the costliest per-operation
probes and says so, in its log and in dwcp_observer_probe_demoted; the per-session and per-stream
probes stay. (The other integration tests turn the budget off: they compare counts exactly, which
a demotion mid-test would break.)"""
import re
import unittest

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for

# 4 KiB Sends, one chunk each, as fast as the fixture goes: nearly all of its CPU is probed calls.
SMALL_SENDS = ["--workload", "amst", "--transfer-size", "4096", "--chunk-size", "65536", "--streams", "2",
               "--transfers", "0", "--duration", "30s"]


class DefaultBudget(AgentTestCase):
    def test_costliest_probes_are_demoted_and_said_so(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=SMALL_SENDS))
        # No --probe-budget: the default. A 1 s interval so that the test need not wait 10 s.
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--probe-budget-interval", "1"], budget_off=False))
        self.assertIn("CAP_BPF", agent.log(), "with a budget the agent keeps what re-attaching needs")
        attached = value(agent.samples(), "dwcp_observer_probes_attached")
        self.assertGreater(attached, 0)
        fixture.go()
        demoted = wait_for(lambda: "detaching" in agent.log() and
                           (value(agent.samples(), "dwcp_observer_probe_demoted") or 0) >= 1, timeout=40)
        self.assertTrue(demoted, agent.log())
        line = re.search(r"probe budget: the uprobes cost an estimated ([0-9.]+) % .*\(budget 2\.0 %\); "
                         r"detaching (.*) \(socket counters stay\)", agent.log())
        self.assertIsNotNone(line, agent.log())
        self.assertGreater(float(line.group(1)), 2.0)
        names = line.group(2).split(", ")
        s = agent.samples()
        for name in names:
            self.assertEqual(value(s, "dwcp_observer_probe_demoted", probe=name), 1, name)
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_probes_attached") < attached,
                                 timeout=10), agent.log())
        # Only per-operation probes are candidates: the once-per-session and once-per-stream ones
        # stay attached whatever the share (userspace/agent/probe_budget.h, budget_may_demote).
        self.assertTrue(wait_for(lambda: "uprobes now attached" in agent.log(), timeout=10), agent.log())
        s = agent.samples()
        for kept in ("session_start", "stream_open", "session_close"):
            self.assertNotIn(kept, names, agent.log())
            self.assertEqual(value(s, "dwcp_observer_probe_demoted", probe=kept), 0, kept)
            self.assertEqual(value(s, "dwcp_observer_probe_state", probe=kept, state="attached"), 1, kept)
        for name in names:
            self.assertIsNone(value(s, "dwcp_observer_probe_state", probe=name, state="attached"), name)


if __name__ == "__main__":
    unittest.main()
