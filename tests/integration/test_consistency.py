"""Issue 25: the agent checks itself against the kernel. dwcp_observer_consistency_bytes{direction}
is, per target, the sum over AMST streams of |kernel bytes on the stream's own sockets - DWCP's
StreamConn counter|: 0 once a transfer is over (no chunk in flight), and far from 0 when the agent
reads the wrong word for a counter (a profile whose bytesSent offset is wrong).

Every fixture run must give 0: reconnects, AdjustStreams shrinking and growing, a Send failing
mid-way, concurrent sessions, an agent attached mid-flight. DWCP bytes the agent cannot attribute
to a socket it saw (a connection that opened and closed between two reads, bytes of before the
attach) are dwcp_observer_consistency_unverified_bytes_total, never a difference (docs/metrics.md).
The plain runs go at 5 transfers per second, so that the agent's 200 ms reads see every stream's
connection open and the check is not vacuous (every stream checked, nothing unverified)."""
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
CHUNK = 65536
SESSIONS = 3
SESSION_ARGS = ["--workload", "sessions", "--sessions", str(SESSIONS), "--streams", str(STREAMS),
                "--transfer-size", str(1 << 20), "--chunk-size", str(16 << 10)]


def consistency(samples, pid):
    return (value(samples, "dwcp_observer_consistency_bytes", pid=pid, direction="sent"),
            value(samples, "dwcp_observer_consistency_bytes", pid=pid, direction="received"))


def unverified(samples, pid):
    return (value(samples, "dwcp_observer_consistency_unverified_bytes_total", pid=pid, direction="sent"),
            value(samples, "dwcp_observer_consistency_unverified_bytes_total", pid=pid, direction="received"))


def checked(samples, pid):
    return value(samples, "dwcp_observer_consistency_streams_checked_total", pid=pid)


class Consistency(AgentTestCase):
    def run_fixture(self, variant="dwcp-fixture", agent_args=(), fixture_args=()):
        fixture = self.track(Fixture(variant, TRANSFER + list(fixture_args)))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)] + list(agent_args)))
        agent.wait_ready()
        fixture.go()
        truth = fixture.wait_done()
        return fixture, agent, truth

    def assert_settles_to_zero(self, agent, pid):
        settled = wait_for(lambda: consistency(agent.samples(), pid) == (0, 0), timeout=10)
        self.assertTrue(settled, consistency(agent.samples(), pid))

    def through(self, fixture, checkpoints, at=None):
        """Resumes the fixture at each checkpoint (calling at(name, checkpoint) first) and returns its truth."""
        for name in checkpoints:
            c = fixture.wait_checkpoint(name)
            if at:
                at(name, c)
            fixture.resume()
        return fixture.wait_done()

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
        self.assertEqual(unverified(samples, pid), (0, 0))
        self.assertEqual(truth["reconnects"], 0)
        self.assertNotIn("cannot find the socket", agent.log())

    def test_reconnected_streams_agree_too(self):
        require_bpf(self)
        # DWCP's health check gives session rc-ok's streams new connections (and fails to, three
        # times, on rc-fail's); rc-ok Sends 3 chunks on them and Closes at once: a new connection
        # the agent may never see open. Its bytes are then unverified, never a difference.
        fixture, agent, truth = self.run_fixture(fixture_args=["--reconnect"])
        wait_for_transfer(agent.samples, truth, fixture.pid)
        pid = str(fixture.pid)
        self.assertGreater(truth["reconnects"], 0)
        self.assert_settles_to_zero(agent, pid)
        sent, received = unverified(agent.samples(), pid)
        self.assertLessEqual(sent, 3 * (CHUNK + 8))  # at most rc-ok's Send after the reconnects
        self.assertEqual(received, 0)
        self.assertGreaterEqual(checked(agent.samples(), pid), 2 * STREAMS + 4)

    def test_adjusted_streams_agree(self):
        require_bpf(self)
        # AdjustStreams shrinks to 2 (streams 2 and 3 closed, their finals read through the saved
        # table), then grows to 6 (four new streams, four new accepted ones on the receiver).
        fixture, agent, truth = self.run_fixture(fixture_args=["--adjust-streams", "2,6"])
        wait_for_transfer(agent.samples, truth, fixture.pid)
        pid = str(fixture.pid)
        self.assert_settles_to_zero(agent, pid)
        self.assertEqual(checked(agent.samples(), pid), 2 * STREAMS + 2 * 4)
        self.assertEqual(unverified(agent.samples(), pid), (0, 0))

    def test_a_send_failing_mid_way_agrees(self):
        require_bpf(self)
        # Stream 1's connection closed under a session: its chunks fail before any byte reaches
        # the kernel, the others go out and stay counted; Close follows at once.
        fixture, agent, truth = self.run_fixture(fixture_args=["--send-fail"])
        wait_for_transfer(agent.samples, truth, fixture.pid)
        self.assertGreater(truth["send_errors"], 0)
        self.assert_settles_to_zero(agent, str(fixture.pid))

    def test_concurrent_sessions_agree(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=SESSION_ARGS))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        fixture.go()
        pid = str(fixture.pid)

        def at(name, c):
            # The sessions wait here with their connections open: the agent's reads find them
            # (the whole workload may otherwise close before a read: then nothing is checked).
            if name == "transferred":
                wait_for(lambda: checked(agent.samples(), pid) == 2 * SESSIONS * STREAMS, timeout=10)

        truth = self.through(fixture, ["started", "transferred", "one_closed", "never_started_closed", "all_closed"], at)
        wait_for_transfer(agent.samples, truth, fixture.pid)
        self.assert_settles_to_zero(agent, pid)
        # Senders' and receivers' streams, every one created while watched: all checked from 0.
        self.assertEqual(checked(agent.samples(), pid), 2 * SESSIONS * STREAMS)
        self.assertEqual(unverified(agent.samples(), pid), (0, 0))

    def test_attached_mid_flight_agrees(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=SESSION_ARGS + ["--attach-midway"]))
        fixture.go()
        before = fixture.wait_checkpoint("attach")
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        fixture.resume()
        pid = str(fixture.pid)

        def at(name, c):
            # The streams of before the attach are compared from a read that finds them still
            # (no chunk in flight): the sessions wait here, so that read comes.
            if name == "adopted":
                wait_for(lambda: checked(agent.samples(), pid) == 2 * SESSIONS * STREAMS, timeout=10)

        truth = self.through(fixture, ["adopted", "one_closed", "never_started_closed", "all_closed"], at)
        wait_for_transfer(agent.samples, truth, fixture.pid)
        self.assert_settles_to_zero(agent, pid)
        samples = agent.samples()
        self.assertEqual(checked(samples, pid), 2 * SESSIONS * STREAMS)
        # What DWCP counted before the attach is never checked; what came after may be.
        sent, received = unverified(samples, pid)
        self.assertGreaterEqual(sent, sum(before["bytes_sent_per_stream"].values()))
        self.assertGreaterEqual(received, sum(before["bytes_received_per_stream"].values()))
        self.assertLessEqual(sent, sum(truth["bytes_sent_per_stream"].values()))
        self.assertLessEqual(received, sum(truth["bytes_received_per_stream"].values()))

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
