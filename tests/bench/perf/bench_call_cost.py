#!/usr/bin/python3
"""Benchmark 1: the price of one probed call. callloop calls a function shaped like DWCP's
sendChunk in a loop; each run measures it with nothing attached, with the floor (uprobes with an
empty BPF program on the same entry and RET sites the agent probes) and with the agent (its real
program, reading the same fields as on DWCP's sendChunk and sending one event per call), in
turn. The figure is ours / floor."""
import argparse
import os
import subprocess

import perf_common as pc


def run_loop(binary, observer, calls, rounds):
    """Starts callloop, attaches `observer(pid)` (or nothing), runs the loop: (ns/call, extra)."""
    proc = subprocess.Popen([binary, "--calls", str(calls), "--rounds", str(rounds)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    attached = None
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError("callloop did not start: " + line)
        attached = observer(proc.pid) if observer else None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        best = None
        for line in proc.stdout:
            if line.startswith("BEST"):
                best = float(line.split()[1])
        proc.wait(120)
        extra = {}
        if isinstance(attached, pc.Agent):
            samples = pc.wait_settled(attached, "dwcp_observer_events_total", calls * rounds)
            extra["events"] = pc.value(samples, "dwcp_observer_events_total")
            extra["lost"] = pc.value(samples, "dwcp_observer_events_lost_total")
            extra["sites"] = attached.sites
        return best, extra
    finally:
        if attached:
            attached.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    binary = os.path.join(pc.TOOLS, "callloop")
    profile = os.path.join(pc.HERE, "sendchunk-profile.json")
    offsets = pc.uprobe_offsets(binary, "main.(*Sender).sendChunk")
    bare, floor, ours, ratio, overhead_ratio = [], [], [], [], []
    agent_extra = []
    for run in range(a.runs):
        b, _ = run_loop(binary, None, a.calls, a.rounds)
        f, _ = run_loop(binary, lambda pid: pc.EmptyFloor(pid, binary, offsets), a.calls, a.rounds)
        o, extra = run_loop(binary, lambda pid: pc.Agent(pid, ["--profile", profile]), a.calls, a.rounds)
        if extra.get("sites") != len(offsets):
            raise RuntimeError("agent attached %s sites, the floor %d: not the same probes" % (extra.get("sites"), len(offsets)))
        bare.append(b)
        floor.append(f)
        ours.append(o)
        ratio.append(o / f)
        overhead_ratio.append((o - b) / (f - b))
        agent_extra.append(extra)
        pc.log("run %d: bare %.1f ns, floor %.1f ns, ours %.1f ns per call -> %.3fx (events %s, lost %s)"
               % (run + 1, b, f, o, o / f, extra.get("events"), extra.get("lost")))
    result = {
        "sites_per_call": len(offsets),
        "calls_per_round": a.calls, "rounds_per_run": a.rounds,
        "bare_ns_per_call": pc.summary(bare),
        "floor_ns_per_call": pc.summary(floor),
        "ours_ns_per_call": pc.summary(ours),
        "ratio_ours_over_floor": pc.summary(ratio),
        "ratio_overhead_ours_over_floor": pc.summary(overhead_ratio),
        "agent": agent_extra,
        "target": 1.3,
    }
    pc.save("call_cost", result)
    print("call cost: ours/floor %s (target <= 1.3x)" % pc.fmt(result["ratio_ours_over_floor"], "x"))


if __name__ == "__main__":
    main()
