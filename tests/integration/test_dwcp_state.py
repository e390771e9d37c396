"""Issue 25: the figures DWCP keeps itself, exact when DWCP changes or drops the state under the
agent. The fixture behaves as novacron's real DWCP does (tests/fixtures/README.md): Close sets the
stream table to nil before it returns and sessions close right after their last Send/Receive,
AdjustStreams shrinks (closing streams) and grows, the health check reconnects idle streams (a
success is no error; a failure is DWCP's own "reconnect_failed") and lowers activeStreams, and a
Send can fail mid-way with the chunks already written counted. Ground truth: DWCP's own counters."""
import unittest

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for

CHUNK = 16 << 10
BASE = ["--streams", "4", "--chunk-size", str(CHUNK), "--transfer-size", str(5 * CHUNK + 123)]


def per_stream(samples, name):
    return {dict(labels)["stream_id"]: int(v) for (n, labels), v in samples.items() if n == name and v}


def nonzero(figures):
    return {k: v for k, v in figures.items() if v}


class DwcpState(AgentTestCase):
    def observe(self, args):
        fixture = self.track(Fixture(args=BASE + args))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        fixture.go()
        return fixture, agent, fixture.wait_done()

    def figures(self, agent):
        s = agent.samples()
        return {
            "sent": per_stream(s, "dwcp_amst_bytes_sent_total"),
            "received": per_stream(s, "dwcp_amst_bytes_received_total"),
            "active": value(s, "dwcp_amst_streams_active"),
            "opened": value(s, "dwcp_amst_streams_total", result="success"),
            "send errors": value(s, "dwcp_amst_errors_total", error_type="send") or 0,
            "reconnect_failed": value(s, "dwcp_amst_errors_total", error_type="reconnect_failed") or 0,
            "reconnect errors": value(s, "dwcp_amst_errors_total", error_type="reconnect") or 0,
        }

    def expect(self, agent, want, label):
        """Waits until the agent's figures equal `want`, then asserts so a failure shows both."""
        got = {}

        def settled():
            nonlocal got
            got = self.figures(agent)
            return all(got[k] == v for k, v in want.items())
        wait_for(settled, timeout=20, interval=0.2)
        self.assertEqual({k: got[k] for k in want}, want, label)

    def expect_truth(self, agent, truth, label, **extra):
        want = {"sent": nonzero(truth["bytes_sent_per_stream"]), "received": nonzero(truth["bytes_received_per_stream"]),
                "active": truth["active_streams"], "opened": truth["streams_opened"],
                "send errors": truth["send_errors"], "reconnect_failed": truth["reconnect_failed"],
                "reconnect errors": 0}
        want.update(extra)
        self.expect(agent, want, label)

    def test_close_right_after_the_last_send_and_receive(self):
        require_bpf(self)
        fixture, agent, truth = self.observe(["--transfers", "3"])
        # Both sessions closed at once after their last Send/Receive: DWCP dropped their tables.
        self.assertEqual((truth["sessions_open"], truth["stream_finals"]), (0, 8))
        self.assertEqual(sum(truth["bytes_received_per_stream"].values()), sum(truth["bytes_sent_per_stream"].values()))
        self.expect_truth(agent, truth, "close right after the last Send/Receive")

    def test_adjust_streams_shrink_and_grow(self):
        require_bpf(self)
        fixture, agent, truth = self.observe(["--transfers", "9", "--adjust-streams", "2,6"])
        # 4 streams, shrunk to 2 (streams 2 and 3 closed), grown to 6 (streams 2..5 created).
        self.assertEqual((truth["adjust_calls"], truth["streams_opened"]), (2, 8))
        self.assertEqual(sorted(truth["bytes_sent_per_stream"], key=int), [str(i) for i in range(6)])
        self.expect_truth(agent, truth, "AdjustStreams 4 -> 2 -> 6")

    def test_reconnect_success_is_no_error_and_failure_is_reconnect_failed(self):
        require_bpf(self)
        fixture, agent, truth = self.observe(["--transfers", "2", "--reconnect"])
        self.assertGreaterEqual(truth["reconnects"], 2)
        self.assertGreaterEqual(truth["reconnect_failed"], 3)
        self.assertEqual(truth["reconnect_calls"], truth["reconnects"] + truth["reconnect_failed"])
        self.expect_truth(agent, truth, "reconnects")

    def test_send_failing_midway_keeps_the_chunks_written(self):
        require_bpf(self)
        fixture, agent, truth = self.observe(["--transfers", "2", "--send-fail"])
        self.assertEqual((truth["send_errors"], truth["send_chunk_errors"]), (1, 2))
        # The failed Send's chunks on the other streams went out and stay in bytesSent.
        wire = sum(truth["bytes_sent_per_stream"].values())
        self.assertEqual(wire - 8 * truth["chunks_sent"], truth["total_bytes_sent"] + 6 * CHUNK)
        self.expect_truth(agent, truth, "a Send that failed mid-way")

    def test_streams_active_is_dwcp_active_streams_after_the_health_check(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=BASE + ["--workload", "sessions", "--sessions", "2", "--reconnect",
                                                  "--adjust-streams", "1,3"]))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        fixture.go()
        for name in ("started", "transferred", "shrunk", "grown", "one_closed", "never_started_closed", "all_closed"):
            c = fixture.wait_checkpoint(name)
            self.expect(agent, {"active": c["active_streams"], "sent": nonzero(c["bytes_sent_per_stream"]),
                                "received": nonzero(c["bytes_received_per_stream"])}, "checkpoint " + name)
            fixture.resume()
        c = fixture.wait_checkpoint("unhealthy")
        # Only rc-fail is open: 2 streams, one left unhealthy after three failed reconnects.
        self.assertEqual((c["sessions_open"], c["active_streams"], c["active"]), (1, 1, 2))
        self.expect(agent, {"active": 1, "reconnect_failed": c["reconnect_failed"], "reconnect errors": 0},
                    "after the health check")
        fixture.resume()
        truth = fixture.wait_done()
        self.expect_truth(agent, truth, "done")


if __name__ == "__main__":
    unittest.main()
