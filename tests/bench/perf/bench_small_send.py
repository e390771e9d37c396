#!/usr/bin/python3
"""The probe budget's effect on small Sends: the fixture's AMST transfer of N Sends of 4 KiB,
one chunk each (so the per-Send and per-chunk uprobe traps, not the copying, dominate), observed
by nothing, by the agent with the budget off (--probe-budget 0) and by the agent with the default
budget (2 %). Both agents judge the budget every second (--probe-budget-interval 1; the default
10 s would outlast most of a run). Configurations alternate within each round. Figures: target
CPU (user + sys) and wall time as ratios to the unobserved run of the same round, min / median /
max over the rounds; which probes the budget detached and when; events decoded.

Run (root): DWCP_OBSERVER_BIN=build/userspace/agent/dwcp-observer DWCP_FIXTURE_DIR=build/tests/fixtures \\
            python3 tests/bench/perf/bench_small_send.py --runs 7"""
import argparse
import json
import os
import re
import statistics
import time

import perf_common as pc

CONFIGS = ("none", "budget_off", "budget_default")


def run_once(config, sends):
    fx = pc.FixtureRun(["--workload", "amst", "--transfer-size", "4096", "--chunk-size", "65536",
                        "--streams", "4", "--transfers", str(sends)])
    agent = None
    try:
        if config == "budget_off":
            agent = pc.Agent(fx.pid, ["--probe-budget", "0", "--probe-budget-interval", "1"])
        elif config == "budget_default":
            agent = pc.Agent(fx.pid, ["--probe-budget-interval", "1"])
        time.sleep(0.5)
        fx.run()
        row = {"wall": fx.wall, "cpu": fx.cpu, "sends": fx.truth["sends"]}
        if agent:
            time.sleep(0.2)
            s = agent.samples()
            row["events"] = int(pc.value(s, "dwcp_observer_events_total") or 0)
            row["demoted"] = sorted(dict(ls)["probe"] for (n, ls), v in s.items()
                                    if n == "dwcp_observer_probe_demoted" and v == 1)
            m = re.search(r"probe budget: the uprobes cost an estimated ([0-9.]+) %", agent.log())
            row["share_at_demotion"] = float(m.group(1)) if m else None
        return row
    finally:
        if agent:
            agent.stop()
        fx.cleanup()


def spread(values):
    return "%.2f / %.2f / %.2f" % (min(values), statistics.median(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sends", type=int, default=150000)
    args = parser.parse_args()
    rows = {c: [] for c in CONFIGS}
    for i in range(args.runs):
        order = CONFIGS if i % 2 == 0 else tuple(reversed(CONFIGS))  # alternate who goes first
        for config in order:
            rows[config].append(run_once(config, args.sends))
        print("round %d: %s" % (i + 1, ", ".join("%s %.2f s cpu" % (c, rows[c][-1]["cpu"]) for c in CONFIGS)),
              flush=True)
    print("\n%d rounds, %d Sends of 4 KiB (one chunk each), 4 streams, loopback" % (args.runs, args.sends))
    print("config          CPU ratio min/median/max   wall ratio min/median/max   events (median)")
    for config in CONFIGS[1:]:
        cpu = [r["cpu"] / b["cpu"] for r, b in zip(rows[config], rows["none"])]
        wall = [r["wall"] / b["wall"] for r, b in zip(rows[config], rows["none"])]
        events = statistics.median(r["events"] for r in rows[config])
        print("%-15s %-26s %-27s %d" % (config, spread(cpu), spread(wall), events))
    print("unobserved: CPU %s s, wall %s s" % (spread([r["cpu"] for r in rows["none"]]),
                                               spread([r["wall"] for r in rows["none"]])))
    demoted = {tuple(r["demoted"]) for r in rows["budget_default"]}
    shares = [r["share_at_demotion"] for r in rows["budget_default"] if r["share_at_demotion"] is not None]
    print("budget_default demoted: %s; estimated share when it did: %s %%" %
          (" | ".join(", ".join(d) or "-" for d in sorted(demoted)), spread(shares) if shares else "-"))
    out = os.path.join(pc.RESULTS, "small_send.json")
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print("rows:", out)


if __name__ == "__main__":
    main()
