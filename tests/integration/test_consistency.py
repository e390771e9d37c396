"""Issue 25: the agent checks itself against the kernel. dwcp_observer_consistency_bytes{direction}
is, per target, the sum over AMST streams of |kernel bytes on the stream's own sockets - DWCP's
StreamConn counter|: 0 once a transfer is over (no chunk in flight), and far from 0 when the agent
reads the wrong word for a counter (a profile whose bytesSent offset is wrong).

The fixture runs its transfers at 5 per second, so that the agent's 200 ms reads find every
stream's connection open at least once (a stream is checked from the first read that finds its
socket; a connection that opens and closes between two reads is not seen: docs/metrics.md)."""
import json
import os
import shutil
import tempfile
import unittest

from harness import (AgentProcess, AgentTestCase, Fixture, SOURCE_DIR, require_bpf, value, wait_for,
                     wait_for_transfer)

STREAMS = 4
TRANSFER = ["--streams", str(STREAMS), "--transfers", "12", "--transfer-size", str(3 * 65536 + 1234),
            "--rate", "5"]
# The shipped scrape interval (configs/prometheus/prometheus.yml): a wrong layout must show by the
# first scrape after the traffic.
SCRAPE_INTERVAL = 15


def consistency(samples, pid):
    return (value(samples, "dwcp_observer_consistency_bytes", pid=pid, direction="sent"),
            value(samples, "dwcp_observer_consistency_bytes", pid=pid, direction="received"))


class Consistency(AgentTestCase):
    def run_fixture(self, variant="dwcp-fixture", agent_args=(), fixture_args=()):
        fixture = self.track(Fixture(variant, TRANSFER + list(fixture_args)))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)] + list(agent_args)))
        agent.wait_ready()
        fixture.go()
        truth = fixture.wait_done()
        return fixture, agent, truth

    def test_kernel_and_dwcp_agree_once_the_transfer_is_over(self):
        require_bpf(self)
        fixture, agent, truth = self.run_fixture()
        samples = wait_for_transfer(agent.samples, truth, fixture.pid)
        pid = str(fixture.pid)
        # Both sessions closed: every stream settled with its final figures, nothing in flight.
        settled = wait_for(lambda: consistency(agent.samples(), pid) == (0, 0), timeout=10)
        samples = agent.samples()
        self.assertTrue(settled, consistency(samples, pid))
        # Not vacuous: every stream (the sender's and the receiver's accepted ones) was checked.
        self.assertEqual(value(samples, "dwcp_observer_consistency_streams_checked_total", pid=pid), 2 * STREAMS)
        self.assertEqual(truth["reconnects"], 0)
        self.assertNotIn("cannot find the socket", agent.log())

    def test_reconnected_streams_agree_too(self):
        require_bpf(self)
        # DWCP's health check gives streams new connections (and fails to, three times); the
        # reconnect's own event re-reads the session, so each new socket is seen before Close.
        fixture, agent, truth = self.run_fixture(fixture_args=["--reconnect"])
        wait_for_transfer(agent.samples, truth, fixture.pid)
        pid = str(fixture.pid)
        self.assertGreater(truth["reconnects"], 0)
        settled = wait_for(lambda: consistency(agent.samples(), pid) == (0, 0), timeout=10)
        self.assertTrue(settled, consistency(agent.samples(), pid))

    def test_a_wrong_counter_offset_shows_by_the_next_scrape(self):
        require_bpf(self)
        # The profile with StreamConn.bytesSent at bytesRecv's offset; on the stripped fixture,
        # which has no DWARF to contradict it (the agent would refuse the layout otherwise).
        directory = tempfile.mkdtemp(prefix="dwcp-consistency-")
        self.addCleanup(shutil.rmtree, directory, True)
        with open(os.path.join(SOURCE_DIR, "configs", "probes", "novacron-dwcp.json")) as f:
            profile = json.load(f)
        fields = profile["types"]["transport.StreamConn"]["fields"]
        fields["bytesSent"]["offset"] = fields["bytesRecv"]["offset"]
        wrong = os.path.join(directory, "wrong-offset.json")
        with open(wrong, "w") as f:
            json.dump(profile, f)

        fixture, agent, truth = self.run_fixture("dwcp-fixture-stripped", ["--profile", wrong])
        pid = str(fixture.pid)
        # The sender's streams "sent" nothing by that word while their sockets sent every byte;
        # the receiver's "sent" what they received. Nothing cancels: each stream's difference counts.
        shown = wait_for(lambda: (consistency(agent.samples(), pid)[0] or 0) > 0, timeout=SCRAPE_INTERVAL)
        sent, received = consistency(agent.samples(), pid)
        self.assertTrue(shown, (sent, received))
        self.assertGreaterEqual(sent, truth["socket_bytes_written"] // 2, (sent, received))
        self.assertEqual(received, 0)
        self.assertEqual(value(agent.samples(), "dwcp_observer_consistency_streams_checked_total", pid=pid),
                         2 * STREAMS)


if __name__ == "__main__":
    unittest.main()
