#!/usr/bin/python3
"""Benchmark 4: scrape latency and agent memory at ~1,000 and ~10,000 series. The series are
real: the fixture opens many AMST streams (two per-stream counter series each), the agent
observes them with --max-label-values 20000, then /metrics is fetched 100 times over HTTP (a new
connection each time, as a Prometheus server without keep-alive would). Figures per run: p50 and
p99 of the 100 scrapes, the body size, the agent's VmRSS after them and its peak (VmHWM)."""
import argparse
import os
import signal
import time
import urllib.request

import perf_common as pc


def series_count(body):
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def percentile(values, p):
    vs = sorted(values)
    return vs[min(len(vs) - 1, int(round(p / 100.0 * (len(vs) - 1))))]


def run_once(streams, scrapes, env=None):
    # Every stream gets at least two chunks, so that every per-stream series exists.
    args = ["--streams", str(streams), "--chunk-size", "1024", "--transfer-size", str(streams * 2048),
            "--transfers", "1", "--workload", "amst", "--linger"]
    fx = pc.FixtureRun(args)
    agent = None
    try:
        agent = pc.Agent(fx.pid, ["--max-label-values", "20000"], env=env)
        os.kill(fx.pid, signal.SIGUSR1)
        for line in fx.proc.stdout:
            if line.startswith("DONE"):
                break
        chunks = 2 * streams
        pc.wait_settled(agent, "dwcp_observer_events_total", 2 * chunks, timeout=60)
        url = "http://%s/metrics" % agent.address
        latencies, body = [], ""
        for _ in range(scrapes):
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
            latencies.append(time.perf_counter() - start)
        rss, hwm = pc.rss_kib(agent.proc.pid)
        # The agent serves HTTP from a child process (docs/security.md): its memory counts too.
        with open("/proc/%d/task/%d/children" % (agent.proc.pid, agent.proc.pid)) as f:
            children = [int(c) for c in f.read().split()]
        http_rss = sum(pc.rss_kib(c)[0] for c in children)
        return {"series": series_count(body.decode()), "bytes": len(body),
                "p50_ms": 1000 * percentile(latencies, 50), "p99_ms": 1000 * percentile(latencies, 99),
                "rss_mib": rss / 1024.0, "hwm_mib": hwm / 1024.0, "http_rss_mib": http_rss / 1024.0}
    finally:
        if agent:
            agent.stop()
        fx.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scrapes", type=int, default=100)
    # ~220 series exist without streams (system, component, TCP and self-metrics families).
    ap.add_argument("--streams", default="16,400,4900", help="stream counts: ~250, ~1,000 and ~10,000 series")
    ap.add_argument("--arena-max", type=int, default=0,
                    help="also run each size with MALLOC_ARENA_MAX=N (glibc arenas per thread hold freed memory)")
    a = ap.parse_args()
    result = {"scrapes_per_run": a.scrapes, "sizes": []}
    for streams in [int(s) for s in a.streams.split(",")]:
        rows = []
        for run in range(a.runs):
            row = run_once(streams, a.scrapes)
            rows.append(row)
            pc.log("streams %d run %d: %s" % (streams, run + 1, row))
        result["sizes"].append({"streams": streams, **{k: pc.summary([r[k] for r in rows]) for k in rows[0]}})
        if a.arena_max:
            env = {"MALLOC_ARENA_MAX": str(a.arena_max)}
            rows = [run_once(streams, a.scrapes, env) for _ in range(a.runs)]
            result["sizes"].append({"streams": streams, "env": env,
                                    **{k: pc.summary([r[k] for r in rows]) for k in rows[0]}})
    pc.save("scrape", result)
    for s in result["sizes"]:
        print("scrape%s, %d series (%d KiB): p50 %s ms, p99 %s ms, RSS %s MiB, peak RSS %s MiB, HTTP process RSS %s MiB" % (
            " " + str(s["env"]) if "env" in s else "", s["series"]["median"], s["bytes"]["median"] // 1024, pc.fmt(s["p50_ms"]), pc.fmt(s["p99_ms"]),
            pc.fmt(s["rss_mib"]), pc.fmt(s["hwm_mib"]), pc.fmt(s["http_rss_mib"])))


if __name__ == "__main__":
    main()
