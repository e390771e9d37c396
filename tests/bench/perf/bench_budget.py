#!/usr/bin/python3
"""The agent at its DEFAULT settings (probe budget 2 %, 10 s interval) against no observer, on
the workloads of issue #25: a big transfer and 20,000 small Sends (4 KiB, one chunk each), as
fast as the fixture goes (a burst) and spread over --sustained-seconds (small_sustained).
Configurations rotate within each round. Per workload: the target's CPU (user + sys) with the
agent over without it, min / median / max over the rounds; and the budget's own estimate
(increase of dwcp_observer_probe_overhead_seconds_total over the run, read after the tick that
follows it) as a share of the target's CPU with the agent, against the measured share
(CPU with - CPU without) / CPU with, medians of the same rounds.

Run (root): DWCP_OBSERVER_BIN=build/userspace/agent/dwcp-observer DWCP_FIXTURE_DIR=build/tests/fixtures \\
            python3 tests/bench/perf/bench_budget.py --runs 7"""
import argparse
import os
import statistics
import time

import perf_common as pc

INTERVAL = 10  # the default --probe-budget-interval


def workloads(args):
    return {
        "big_transfer": ["--workload", "amst", "--streams", str(args.streams), "--transfer-size",
                         str(args.big_size), "--transfers", str(args.big_transfers), "--chunk-size", "65536"],
        "small_sends": ["--workload", "amst", "--streams", "4", "--transfer-size", "4096", "--chunk-size", "65536",
                        "--transfers", str(args.sends)],
        "small_sustained": ["--workload", "amst", "--streams", "4", "--transfer-size", "4096", "--chunk-size",
                            "65536", "--transfers", str(args.sends), "--rate",
                            "%.1f" % (args.sends / args.sustained_seconds)],
    }


def run_once(fixture_args, with_agent):
    fx = pc.FixtureRun(fixture_args)
    agent = None
    try:
        if with_agent:
            # Passing the default interval keeps perf_common from turning the budget off.
            agent = pc.Agent(fx.pid, ["--probe-budget-interval", str(INTERVAL)])
            time.sleep(0.5)
        fx.run()
        row = {"cpu": fx.cpu, "wall": fx.wall}
        if agent:
            # The overhead counter moves at the interval's tick: wait for the one after the run.
            time.sleep(INTERVAL + 1)
            s = agent.samples()
            row["estimate_s"] = pc.value(s, "dwcp_observer_probe_overhead_seconds_total") or 0.0
            # Of which the socket programs (their BPF run time, by the target's share of their runs).
            row["socket_s"] = pc.value(s, "dwcp_observer_probe_overhead_seconds_total", probe="socket") or 0.0
            row["cut"] = "detached until the next evaluation" in agent.log()
            row["sampled"] = sorted(dict(ls)["probe"] for (n, ls), v in s.items()
                                    if n == "dwcp_observer_probe_demoted" and v == 1)
        return row
    finally:
        if agent:
            agent.stop()
        fx.cleanup()


def spread(values, fmt="%.3f"):
    return " / ".join(fmt % v for v in (min(values), statistics.median(values), max(values)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--sends", type=int, default=20000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--big-size", type=int, default=32 << 20)
    ap.add_argument("--big-transfers", type=int, default=4)
    ap.add_argument("--sustained-seconds", type=float, default=30.0)
    ap.add_argument("--workloads", default="big_transfer,small_sends")
    args = ap.parse_args()
    loads = {w: a for w, a in workloads(args).items() if w in args.workloads.split(",")}
    pc.log("load average at start: " + open("/proc/loadavg").read().strip())
    run_once(next(iter(loads.values())), False)  # warm-up: page cache, CPU frequency
    rows = {(w, a): [] for w in loads for a in (False, True)}
    order = [(w, a) for w in loads for a in (False, True)]
    for i in range(args.runs):
        k = i % len(order)
        for key in order[k:] + order[:k]:  # rotated
            rows[key].append(run_once(loads[key[0]], key[1]))
        pc.log("round %d done, load %s" % (i + 1, open("/proc/loadavg").read().split()[0]))
    pc.log("load average at end: " + open("/proc/loadavg").read().strip())
    print("| workload | target CPU without agent, s (min / median / max) | with agent, s | ratio with/without "
          "(min / median / max) | budget's estimate, share of target CPU (median) | of which socket programs | "
          "measured share (median) | sampled (cut short within an interval: rounds) |")
    print("|---|---|---|---|---|---|---|---|")
    for w in loads:
        base, agent = rows[(w, False)], rows[(w, True)]
        ratio = [a["cpu"] / b["cpu"] for a, b in zip(agent, base)]
        estimate = [a["estimate_s"] / a["cpu"] for a in agent]
        measured = [(a["cpu"] - b["cpu"]) / a["cpu"] for a, b in zip(agent, base)]
        sockets = [a["socket_s"] / a["cpu"] for a in agent]
        sampled = sorted({", ".join(a["sampled"]) or "none" for a in agent})
        cut = sum(1 for a in agent if a["cut"])
        print("| %s | %s | %s | %s | %.1f %% | %.1f %% | %.1f %% | %s (%d of %d) |" % (
            w, spread([b["cpu"] for b in base]), spread([a["cpu"] for a in agent]), spread(ratio, "%.3f"),
            100 * statistics.median(estimate), 100 * statistics.median(sockets), 100 * statistics.median(measured),
            "; ".join(sampled), cut, len(agent)))
    pc.save("budget_" + "_".join(loads), {"%s/%s" % (w, "agent" if a else "none"): r for (w, a), r in rows.items()})


if __name__ == "__main__":
    main()
