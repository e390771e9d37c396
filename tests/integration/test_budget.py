"""The probe budget is on by default (2 %). On a workload of small Sends, where the uprobe traps
cost far more than that, the agent SAMPLES the costliest per-operation probes (attached a share
of every interval, never detached for good) and says so, in its log at warn level and in
dwcp_observer_probe_state{state="sampled"} / dwcp_observer_probe_sample_ratio. The probes that
counts depend on (session_start, stream_open, session_close with its final per-stream bytes,
reconnect, ...) stay attached all the time, in links of their own: every figure they feed is
exact. (The other integration tests turn the budget off: they compare per-operation counts
exactly, which sampling would break.)"""
import unittest

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for, wait_for_transfer

# 4 KiB Sends, one chunk each, as fast as the fixture goes: nearly all of its CPU is probed calls.
SMALL_SENDS = ["--workload", "amst", "--transfer-size", "4096", "--chunk-size", "65536", "--streams", "2",
               "--transfers", "0", "--duration", "12s"]
KEPT = ("session_start", "stream_open", "session_close")


def sampled_probes(samples):
    return {dict(labels)["probe"] for (name, labels), v in samples.items()
            if name == "dwcp_observer_probe_state" and dict(labels).get("state") == "sampled" and v == 1}


class DefaultBudget(AgentTestCase):
    def test_costly_probes_are_sampled_and_counts_stay_exact(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=SMALL_SENDS))
        pid = str(fixture.pid)
        # No --probe-budget: the default. A 1 s interval so that the test need not wait 10 s.
        agent = self.track(AgentProcess(["--pid", pid, "--probe-budget-interval", "1"], budget_off=False))
        attached = value(agent.samples(), "dwcp_observer_probes_attached", pid=pid)
        self.assertGreater(attached, 0)
        fixture.go()
        sampled = wait_for(lambda: sampled_probes(agent.samples()), timeout=20)
        self.assertTrue(sampled, agent.log())
        # Every budget action (a probe cut short within an interval, sampling decided at a tick) at warn.
        records = [r for r in agent.log_records() if "probe budget" in r.get("msg", "")]
        self.assertTrue(records, agent.log())
        for record in records:
            self.assertEqual(record["level"], "warn", record)
        s = agent.samples()
        for probe in sampled:
            ratio = value(s, "dwcp_observer_probe_sample_ratio", probe=probe)
            self.assertGreater(ratio, 0, probe)
            self.assertLess(ratio, 1, probe)
            self.assertEqual(value(s, "dwcp_observer_probe_demoted", probe=probe), 1, probe)
            self.assertIsNone(value(s, "dwcp_observer_probe_state", probe=probe, state="attached") or None, probe)
        # Only per-operation probes are candidates (probe_budget.h, budget_may_demote).
        for kept in KEPT:
            self.assertNotIn(kept, sampled)
            self.assertEqual(value(s, "dwcp_observer_probe_state", pid=pid, probe=kept, state="attached"), 1, kept)
            self.assertEqual(value(s, "dwcp_observer_probe_sample_ratio", probe=kept), 1, kept)
        # Sampling changes no site count: the detached-probes alert must not see it.
        self.assertEqual(value(s, "dwcp_observer_probes_attached", pid=pid), attached)

        # A sampled probe comes back within the interval: its hits grow again, interval after
        # interval, while the fixture sends (they would stay flat had it been detached for good).
        probe = sorted(sampled)[0]
        for _ in range(2):
            before = value(agent.samples(), "dwcp_observer_probe_hits_total", probe=probe)
            grew = wait_for(lambda: value(agent.samples(), "dwcp_observer_probe_hits_total", probe=probe) > before,
                            timeout=3)
            self.assertTrue(grew, "%s not re-attached within its interval: %s" % (probe, agent.log()))

        # Count-critical probes stayed attached: the sessions' lifecycle and DWCP's own per-stream
        # figures (read at Close) are exact, and the sampling edges are not counted as losses.
        truth = fixture.wait_done(timeout=60)
        s = wait_for_transfer(agent.samples, truth, pid)
        self.assertEqual(value(s, "dwcp_amst_bytes_sent_total"), sum(truth["bytes_sent_per_stream"].values()))
        self.assertEqual(value(s, "dwcp_amst_bytes_received_total"),
                         sum(truth["bytes_received_per_stream"].values()))
        self.assertEqual(value(s, "dwcp_amst_streams_total", result="success"), truth["streams_opened"])
        self.assertEqual(value(s, "dwcp_amst_streams_active"), 0)
        self.assertEqual(value(s, "dwcp_observer_amst_sessions", pid=pid), 0)
        self.assertEqual(value(s, "dwcp_observer_events_total", kind="session_start"), truth["sessions_started"])
        self.assertEqual(value(s, "dwcp_observer_events_total", kind="session_close"), truth["sessions_closed"])
        for kept in KEPT:
            self.assertEqual(value(s, "dwcp_observer_events_lost_total", probe=kept) or 0, 0, kept)
        # RETs at the start of a window, whose call began before it, are counted apart.
        self.assertIsNotNone(value(s, "dwcp_observer_probe_sampling_edge_exits_total", probe=probe))
        for reason in ("unmatched_exit", "map_full", "ringbuf_full", "read_failed"):
            self.assertEqual(value(s, "dwcp_observer_events_lost_total", reason=reason) or 0, 0,
                             "%s: %s" % (reason, agent.metrics()))


class BurstShorterThanTheInterval(AgentTestCase):
    def test_a_burst_is_judged_within_the_interval(self):
        # 40,000 small Sends as fast as the fixture goes (a few seconds) under the DEFAULT budget
        # and interval (10 s): had the budget waited for its tick, every Send would be trapped
        # (2 hits each). It cuts send and receive as soon as their cost so far exceeds what the
        # whole interval allows (and a new target is first judged after 1 s, not 10).
        require_bpf(self)
        fixture = self.track(Fixture(args=["--workload", "amst", "--transfer-size", "4096", "--chunk-size", "65536",
                                           "--streams", "2", "--transfers", "40000"]))
        pid = str(fixture.pid)
        agent = self.track(AgentProcess(["--pid", pid], budget_off=False))
        fixture.go()
        truth = fixture.wait_done(timeout=120)
        s = wait_for_transfer(agent.samples, truth, pid)
        self.assertLess(value(s, "dwcp_observer_probe_hits_total", probe="send"), 2 * truth["sends"], agent.log())
        self.assertLess(value(s, "dwcp_observer_probe_hits_total", probe="receive"), 2 * truth["receives"])
        records = [r for r in agent.log_records() if "probe budget" in r.get("msg", "")]
        self.assertTrue(records, agent.log())
        self.assertEqual({r["level"] for r in records}, {"warn"})
        # What DWCP keeps, and the probes counts depend on, exact.
        self.assertEqual(value(s, "dwcp_amst_bytes_sent_total"), sum(truth["bytes_sent_per_stream"].values()))
        self.assertEqual(value(s, "dwcp_amst_bytes_received_total"),
                         sum(truth["bytes_received_per_stream"].values()))
        self.assertEqual(value(s, "dwcp_observer_events_total", kind="session_start"), truth["sessions_started"])
        self.assertEqual(value(s, "dwcp_observer_events_total", kind="session_close"), truth["sessions_closed"])
        for reason in ("unmatched_exit", "map_full", "ringbuf_full", "read_failed"):
            self.assertEqual(value(s, "dwcp_observer_events_lost_total", reason=reason) or 0, 0,
                             "%s: %s" % (reason, agent.log()))


if __name__ == "__main__":
    unittest.main()
