"""Issue: stay attached and stay safe. 200 concurrent scrapers for 30 s while the fixture
transfers: not one scrape may fail, and the counts must still match the fixture's truth.
Latencies are printed (they go into docs/performance.md), never asserted."""
import os
import statistics
import threading
import time
import unittest
import urllib.request

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for

SCRAPERS = int(os.environ.get("DWCP_SCALE_SCRAPERS", "200"))
SECONDS = float(os.environ.get("DWCP_SCALE_SECONDS", "30"))


def per_stream(samples, name):
    out = {}
    for (n, ls), v in samples.items():
        d = dict(ls)
        if n == name and "stream_id" in d:
            out[d["stream_id"]] = out.get(d["stream_id"], 0) + v
    return out


class ConcurrentScrapers(AgentTestCase):
    def test_200_scrapers_for_30_s_while_transferring(self):
        require_bpf(self)
        fixture = self.track(Fixture(args=["--transfers", "0", "--duration", "%ds" % (SECONDS + 2), "--rate", "20",
                                           "--transfer-size", "262144", "--workload", "all"]))
        # 200 scrapes at once: above --web.max-requests' default of 40 (node_exporter's), which
        # answers the rest 503 by design; this test is about serving them all.
        agent = self.track(AgentProcess(["--pid", str(fixture.pid), "--web.max-requests", str(SCRAPERS)]))
        agent.wait_ready()
        url = "http://%s/metrics" % agent.address
        fixture.go()

        latencies, failures = [], []
        lock = threading.Lock()
        start_line = threading.Barrier(SCRAPERS + 1)
        deadline = [0.0]

        def scraper():
            mine, bad = [], []
            start_line.wait()
            while time.monotonic() < deadline[0]:
                began = time.monotonic()
                try:
                    with urllib.request.urlopen(url, timeout=60) as response:
                        body = response.read()
                        status = response.status
                    if status != 200 or not body.endswith(b"\n") or b"dwcp_observer_target_up" not in body:
                        bad.append("status %d, %d bytes" % (status, len(body)))
                    else:
                        mine.append(time.monotonic() - began)
                except Exception as e:  # every failure counts, whatever its kind
                    bad.append("%s: %s" % (type(e).__name__, e))
            with lock:
                latencies.extend(mine)
                failures.extend(bad)

        threads = [threading.Thread(target=scraper, daemon=True) for _ in range(SCRAPERS)]
        for t in threads:
            t.start()
        deadline[0] = time.monotonic() + SECONDS
        began = time.monotonic()
        start_line.wait()
        for t in threads:
            t.join(SECONDS + 120)
        took = time.monotonic() - began
        self.assertFalse(any(t.is_alive() for t in threads), "a scraper hung")
        self.assertIsNone(agent.proc.poll(), "agent died under scrape load: " + agent.log())

        latencies.sort()
        q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [latencies[0]] * 99
        print("\n%d scrapers x %.0f s: %d scrapes (%.0f/s), %d failed; latency p50 %.1f ms, p90 %.1f ms, "
              "p99 %.1f ms, max %.1f ms; body %d bytes"
              % (SCRAPERS, SECONDS, len(latencies), len(latencies) / took, len(failures), 1000 * q[49],
                 1000 * q[89], 1000 * q[98], 1000 * latencies[-1], len(agent.metrics())))
        self.assertEqual(failures[:5], [], "%d of %d scrapes failed" % (len(failures), len(failures) + len(latencies)))
        self.assertGreaterEqual(len(latencies), SCRAPERS, "every scraper got at least one answer")

        # The event path kept up while the HTTP path was busy: counts exact.
        truth = fixture.wait_done(timeout=120)

        def settled():
            s = agent.samples()
            exact = per_stream(s, "dwcp_amst_bytes_sent_total") == truth["bytes_sent_per_stream"] and \
                value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(fixture.pid)) == truth["socket_bytes_written"]
            return s if exact else None
        s = wait_for(settled, timeout=20) or agent.samples()
        self.assertEqual(per_stream(s, "dwcp_amst_bytes_sent_total"), truth["bytes_sent_per_stream"])
        self.assertEqual(value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(fixture.pid)),
                         truth["socket_bytes_written"])
        self.assertEqual(value(s, "dwcp_observer_events_lost_total", reason="ringbuf_full"), 0)


if __name__ == "__main__":
    unittest.main()
