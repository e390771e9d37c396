"""Issue 5: struct field offsets come from the profile's "types", but a binary with DWARF says
where its fields really are. A probe whose profile offset the DWARF contradicts would read the
wrong bytes, so the agent refuses that probe (naming the field and both offsets) and attaches the
rest; with offsets that agree, nothing is refused."""
import json
import os
import re
import shutil
import tempfile
import unittest

from harness import SOURCE_DIR, AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for

SHIPPED_PROFILE = os.path.join(SOURCE_DIR, "configs", "probes", "novacron-dwcp.json")
# The probes whose entry reads stream.streamID (a *transport.StreamConn field). (The default
# profile has no probe per chunk: sendChunk/receiveChunk are in the debug profile only.)
STREAM_ID_READERS = ["transport.(*MultiStreamTCP).reconnectStream"]


class DwarfFieldOffsets(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.scratch = tempfile.mkdtemp(prefix="dwcp-dwarf-")
        self.addCleanup(shutil.rmtree, self.scratch, True)

    def run_transfer(self, profile_path):
        fixture = self.track(Fixture(args=["--streams", "4", "--transfers", "6",
                                           "--transfer-size", str(3 * 65536 + 1234)]))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--profile", profile_path]))
        agent.wait_ready()
        fixture.go()
        truth = fixture.wait_done()
        settled = wait_for(lambda: value(agent.samples(), "dwcp_amst_latency_seconds_count", operation="send")
                           == truth["sends"], timeout=30)
        return agent, truth, settled

    def test_profile_offset_the_dwarf_contradicts_refuses_only_the_probes_reading_it(self):
        require_bpf(self)
        with open(SHIPPED_PROFILE) as f:
            profile = json.load(f)
        self.assertEqual(profile["types"]["transport.StreamConn"]["fields"]["streamID"]["offset"], 8)
        profile["types"]["transport.StreamConn"]["fields"]["streamID"]["offset"] = 16
        path = os.path.join(self.scratch, "wrong-offset.json")
        with open(path, "w") as f:
            json.dump(profile, f)

        agent, truth, settled = self.run_transfer(path)
        log = agent.log()
        refused = re.search(r"probes refused: (.*)", log)
        self.assertIsNotNone(refused, log)
        reason = ("field transport.StreamConn.streamID is at offset 8 in this binary's DWARF, "
                  "the profile says 16")
        for function in STREAM_ID_READERS:
            self.assertIn(function + " (" + reason, refused.group(1))
        self.assertEqual(refused.group(1).count(reason), len(STREAM_ID_READERS), refused.group(1))
        # The other probes attach and count exactly; the refused ones report nothing.
        self.assertTrue(settled, "send latency count never reached %d: %s" % (truth["sends"], agent.log()))
        s = agent.samples()
        self.assertEqual(value(s, "dwcp_amst_latency_seconds_count", operation="send"), truth["sends"])
        self.assertGreater(value(s, "dwcp_observer_events_total", kind="send") or 0, 0)
        # The session layout reads streamID too: per-stream bytes are not read (visibly: one log
        # line and the readable gauge at 0), rather than read from the wrong words.
        self.assertIn("per-stream AMST bytes not read: " + reason, log)
        self.assertEqual(value(s, "dwcp_observer_amst_stream_counters_readable", pid=str(truth["pid"])), 0)
        self.assertEqual(value(s, "dwcp_amst_bytes_sent_total") or 0, 0)

    def test_offsets_that_agree_with_the_dwarf_refuse_nothing(self):
        require_bpf(self)
        agent, truth, settled = self.run_transfer(SHIPPED_PROFILE)
        self.assertTrue(settled, "send latency count never reached %d: %s" % (truth["sends"], agent.log()))
        self.assertNotIn("probes refused", agent.log())
        s = agent.samples()
        self.assertEqual(value(s, "dwcp_amst_bytes_sent_total"), sum(truth["bytes_sent_per_stream"].values()))
        self.assertEqual(value(s, "dwcp_observer_amst_stream_counters_readable", pid=str(truth["pid"])), 1)


if __name__ == "__main__":
    unittest.main()
