"""Issue 20: a target that writes its own memory (any user running the real DWCP binary can,
through /proc/PID/mem or ptrace). The test does it as that user would: it finds the sessions'
stream tables in the fixture's heap and rewrites DWCP's own counters.

- A stream counter forced backwards, another set near 2^64: never exported as a decrease (nor
  as a jump); each session is refused and counted (dwcp_observer_amst_stream_counters_refused_total).
- Stream pointers churned at every read: the agent stays under 64 MiB."""
import struct
import time

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for

STREAMS = 4
SESSION_ARGS = ["--workload", "sessions", "--sessions", "2", "--streams", str(STREAMS)]
STREAMS_OFF, ID_OFF, SENT_OFF = 16, 8, 16  # MultiStreamTCP.streams; StreamConn.streamID, bytesSent


def anon_rw_regions(pid):
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            parts = line.split()
            if parts[1].startswith("rw") and (len(parts) < 6 or parts[5] == "[heap]"):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                yield start, end


def read(mem, addr, n):
    mem.seek(addr)
    return mem.read(n)


def sender_sessions(pid):
    """[(session, [stream pointers])]: every MultiStreamTCP whose slice is len=cap=numStreams=STREAMS
    and whose streams carry ids 0..STREAMS-1, found by scanning the heap as an attacker would."""
    found = []
    needle = struct.pack("<QQQ", STREAMS, STREAMS, STREAMS)  # len, cap, numStreams
    with open("/proc/%d/mem" % pid, "rb") as mem:
        for start, end in anon_rw_regions(pid):
            try:
                data = read(mem, start, end - start)
            except OSError:
                continue
            at = data.find(needle)
            while at >= 0:
                if at % 8 == 0 and at >= STREAMS_OFF + 8:
                    session = start + at - STREAMS_OFF - 8
                    array = struct.unpack_from("<Q", data, at - 8)[0]
                    try:
                        pointers = struct.unpack("<%dQ" % STREAMS, read(mem, array, 8 * STREAMS))
                        ids = [struct.unpack("<q", read(mem, p + ID_OFF, 8))[0] for p in pointers]
                    except (OSError, ValueError, OverflowError):
                        ids = None
                    if ids == list(range(STREAMS)):
                        found.append((session, list(pointers)))
                at = data.find(needle, at + 1)
    return found


def write_u64(pid, addr, v):
    with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
        mem.seek(addr)
        mem.write(struct.pack("<Q", v))


def read_u64(pid, addr):
    with open("/proc/%d/mem" % pid, "rb") as mem:
        return struct.unpack("<Q", read(mem, addr, 8))[0]


def stream_bytes(samples):
    out = {}
    for (n, labels), v in samples.items():
        labels = dict(labels)
        if n == "dwcp_amst_bytes_sent_total" and "stream_id" in labels:
            out[labels["stream_id"]] = out.get(labels["stream_id"], 0) + v
    return out


class HostileMemory(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)

    def start(self):
        fixture = self.track(Fixture(args=SESSION_ARGS))
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        agent.wait_ready()
        fixture.go()
        fixture.wait_checkpoint("started")
        fixture.resume()
        c = fixture.wait_checkpoint("transferred")  # both sessions open, idle, with bytes
        want = {k: float(v) for k, v in c["bytes_sent_per_stream"].items()}
        self.assertTrue(wait_for(lambda: stream_bytes(agent.samples()) == want), (stream_bytes(agent.samples()), want))
        sessions = sender_sessions(fixture.pid)
        self.assertEqual(len(sessions), 2, "the sender sessions' stream tables were not found in the heap")
        return fixture, agent, sessions, want

    def test_counters_forced_backwards_or_near_two_to_the_64_are_never_exported_as_a_decrease(self):
        fixture, agent, sessions, before = self.start()
        (_, a), (_, b) = sessions
        sent0 = read_u64(fixture.pid, a[0] + SENT_OFF)
        self.assertGreater(sent0, 1000)
        write_u64(fixture.pid, a[0] + SENT_OFF, sent0 - 1000)  # backwards
        write_u64(fixture.pid, b[1] + SENT_OFF, (1 << 64) - 20)  # the sum would wrap
        refused = lambda reason: value(agent.samples(), "dwcp_observer_amst_stream_counters_refused_total",
                                       pid=str(fixture.pid), reason=reason)
        self.assertTrue(wait_for(lambda: refused("decrease") == 1 and refused("jump") == 1), agent.log())
        # Forwards again: the refused sessions are read no more. Every scrape since: no stream went
        # down, none jumped.
        write_u64(fixture.pid, a[0] + SENT_OFF, sent0 + 5000)
        for _ in range(10):
            self.assertEqual(stream_bytes(agent.samples()), before)
            time.sleep(0.1)
        self.assertEqual(value(agent.samples(), "dwcp_observer_invalid_events_total", reason="counter_overflow") or 0, 0)
        self.assertIn("holds stream figures no DWCP stream counts", agent.log())

    def test_churning_stream_pointers_keep_the_agent_under_64_mib(self):
        fixture, agent, sessions, before = self.start()
        (session, pointers), _ = sessions
        array = read_u64(fixture.pid, session + STREAMS_OFF)
        # New stream objects at every read: each pointer moved a word at a time across the
        # streams' own memory (every address there reads as some plausible StreamConn or fails).
        rss = []
        began = time.monotonic()
        step = 0
        while time.monotonic() - began < 8:
            step += 1
            for i, p in enumerate(pointers):
                write_u64(fixture.pid, array + 8 * i, p + 8 * (step % 4))
            time.sleep(0.05)
            if step % 20 == 0:
                with open("/proc/%d/status" % agent.proc.pid) as f:
                    rss.append(int(next(l for l in f if l.startswith("VmRSS:")).split()[1]) * 1024)
        for i, p in enumerate(pointers):
            write_u64(fixture.pid, array + 8 * i, p)
        print("agent RSS while the target churned its stream pointers: max %.1f MiB" % (max(rss) / 2**20))
        self.assertLess(max(rss), 64 << 20)
        self.assertIsNone(agent.proc.poll())
        # Nothing was exported as a decrease.
        after = stream_bytes(agent.samples())
        for stream_id, v in before.items():
            self.assertGreaterEqual(after.get(stream_id, 0), v)
