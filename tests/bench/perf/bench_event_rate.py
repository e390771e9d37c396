#!/usr/bin/python3
"""Benchmark 3: event rate against loss. The fixture sends small chunks (one send_chunk and one
receive_chunk event each) as fast as the probes let it, or at --rate transfers per second; the
agent (shipped profile) counts what it decoded (dwcp_observer_events_total), what BPF counted
as lost (dwcp_observer_events_lost_total), and both are checked against the fixture's truth.

Part A: the default ring buffer (4 MiB) at rising rates up to the fixture's highest probe rate
(the rate is bounded by the traps: each event costs the target two).
Part B: where loss starts, by ring buffer size, at the highest rate: below the wake-up threshold
(256 KiB) the consumer drains only on its 50 ms timer, so a buffer must hold 50 ms of events.
Part C: where loss starts, by rate, with a 64 KiB ring buffer (~290 events): expected near
capacity / 50 ms = ~5,800 events/s."""
import argparse
import time

import perf_common as pc

EVENT_BYTES = 216  # sizeof(struct dwcp_event)
RING_HEADER = 8    # each ring buffer record carries an 8-byte header


def lost_by_reason(samples):
    out = {}
    for (name, labels), v in samples.items():
        if name == "dwcp_observer_events_lost_total" and v:
            reason = dict(labels)["reason"]
            out[reason] = out.get(reason, 0) + v
    return out


def run_once(rate, duration, chunk, transfer, ringbuf):
    args = ["--streams", "16", "--chunk-size", str(chunk), "--transfer-size", str(transfer),
            "--transfers", "0", "--duration", "%gs" % duration, "--rate", str(rate), "--workload", "amst"]
    fx = pc.FixtureRun(args)
    agent = None
    try:
        agent = pc.Agent(fx.pid, ["--ringbuf-size", str(ringbuf)])
        agent_cpu_before = pc.cpu_seconds_of(agent.proc.pid)
        fx.run()
        t = fx.truth
        # Every paired call of the AMST probes is one event; the final failing receiveChunk of
        # each stream (EOF) is one too.
        expected = (t["chunks_sent"] + t["receive_chunk_calls"] + t["sends"] + t["receives"] +
                    t["streams_opened"] + t["sessions_started"] + t["sessions_closed"])
        deadline = time.time() + 10
        while True:
            s = agent.samples()
            seen = pc.value(s, "dwcp_observer_events_total") or 0
            lost = pc.value(s, "dwcp_observer_events_lost_total") or 0
            if seen + lost >= expected or time.time() > deadline:
                break
            time.sleep(0.1)
        agent_cpu = pc.cpu_seconds_of(agent.proc.pid) - agent_cpu_before
        return {"agent_cpu_s": agent_cpu, "agent_us_per_event": 1e6 * agent_cpu / max(1, seen),"rate_arg": rate, "wall": fx.wall, "events": seen, "lost": lost, "expected": expected,
                "missing": expected - seen, "events_per_s": (seen + lost) / fx.wall,
                "probe_hits": pc.value(s, "dwcp_observer_probe_hits_total"),
                "lost_by_reason": lost_by_reason(s)}
    finally:
        if agent:
            agent.stop()
        fx.cleanup()


def sweep(label, rates, runs, duration, chunk, transfer, ringbuf):
    points = []
    for rate in rates:
        rows = [run_once(rate, duration, chunk, transfer, ringbuf) for _ in range(runs)]
        for r in rows:
            pc.log("%s ringbuf %d rate %s: %.0f ev/s, events %d, lost %d, missing %d %s, agent %.2f us/event" % (
                label, ringbuf, rate or "max", r["events_per_s"], r["events"], r["lost"], r["missing"],
                r["lost_by_reason"], r["agent_us_per_event"]))
        points.append({
            "rate_arg": rate,
            "events_per_s": pc.summary([r["events_per_s"] for r in rows]),
            "lost_fraction": pc.summary([r["lost"] / max(1, r["expected"]) for r in rows]),
            "lost": [r["lost"] for r in rows],
            "agent_us_per_event": pc.summary([r["agent_us_per_event"] for r in rows]),
            "missing_uncounted": [r["missing"] - r["lost"] for r in rows],
            "lost_by_reason": [r["lost_by_reason"] for r in rows],
        })
    return points


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="runs at the highest rate")
    ap.add_argument("--sweep-runs", type=int, default=3, help="runs per sweep point")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--transfer-size", type=int, default=16384)
    a = ap.parse_args()
    chunks_per_transfer = a.transfer_size // a.chunk_size
    default_rb, small_rb = 1 << 22, 1 << 16
    result = {
        "chunk_size": a.chunk_size, "transfer_size": a.transfer_size,
        "events_per_transfer": 2 * chunks_per_transfer + 2,
        "default": {
            "ringbuf_bytes": default_rb,
            "sweep": sweep("A", [50, 200], a.sweep_runs, a.duration, a.chunk_size, a.transfer_size, default_rb),
            "max": sweep("A", [0], a.runs, a.duration, a.chunk_size, a.transfer_size, default_rb)[0],
        },
        "by_ringbuf": [
            dict(ringbuf_bytes=rb, capacity_events=rb // (EVENT_BYTES + RING_HEADER),
                 **sweep("B", [0], a.sweep_runs, a.duration, a.chunk_size, a.transfer_size, rb)[0])
            for rb in (1 << 14, 1 << 16, 1 << 18, 1 << 20)],
        "by_rate": {
            "ringbuf_bytes": small_rb,
            "capacity_events": small_rb // (EVENT_BYTES + RING_HEADER),
            "predicted_onset_events_per_s": small_rb // (EVENT_BYTES + RING_HEADER) / 0.05,
            "sweep": sweep("C", [10, 20, 40, 80, 0], a.sweep_runs, a.duration, a.chunk_size, a.transfer_size, small_rb),
        },
    }
    pc.save("event_rate", result)
    m = result["default"]["max"]
    print("event rate, default ring buffer: highest rate %s ev/s, lost fraction %s, agent CPU %s us/event" % (
        pc.fmt(m["events_per_s"]), pc.fmt(m["lost_fraction"]), pc.fmt(m["agent_us_per_event"])))
    for p in result["by_ringbuf"]:
        print("event rate, highest rate, ring buffer %d KiB: %s ev/s, lost fraction %s" % (
            p["ringbuf_bytes"] >> 10, pc.fmt(p["events_per_s"]), pc.fmt(p["lost_fraction"])))
    for p in result["by_rate"]["sweep"]:
        print("event rate, 64 KiB ring buffer, --rate %s: %s ev/s, lost fraction %s" % (
            p["rate_arg"] or "max", pc.fmt(p["events_per_s"]), pc.fmt(p["lost_fraction"])))


if __name__ == "__main__":
    main()
