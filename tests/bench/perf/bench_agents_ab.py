#!/usr/bin/python3
"""Two agent builds against no agent, side by side in one run: the target's CPU (user + sys)
for 20,000 Sends of 4 KiB (4 uprobe hits per Send: Send and Receive, entry and RET), every probe
attached (--probe-budget 0), configurations rotated within each round.

Run (root): DWCP_FIXTURE_DIR=build/tests/fixtures python3 tests/bench/perf/bench_agents_ab.py \\
            --agent old=/path/to/old/dwcp-observer --agent new=build/userspace/agent/dwcp-observer --runs 5"""
import argparse
import statistics
import time

import perf_common as pc

ARGS = ["--workload", "amst", "--streams", "4", "--transfer-size", "4096", "--chunk-size", "65536"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", action="append", required=True, help="NAME=PATH of an agent binary")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sends", type=int, default=20000)
    args = ap.parse_args()
    agents = dict(a.split("=", 1) for a in args.agent)
    configs = ["none"] + list(agents)
    cpu = {c: [] for c in configs}
    for r in range(args.runs):
        for c in configs[r % len(configs):] + configs[:r % len(configs)]:
            fx = pc.FixtureRun(ARGS + ["--transfers", str(args.sends)])
            agent = None
            try:
                if c != "none":
                    pc.AGENT = agents[c]
                    agent = pc.Agent(fx.pid, [])
                    time.sleep(0.5)
                fx.run()
                cpu[c].append(fx.cpu)
            finally:
                if agent:
                    agent.stop()
        print("round %d: %s" % (r + 1, {c: round(v[-1], 3) for c, v in cpu.items()}), flush=True)
    base = statistics.median(cpu["none"])
    print("| agent | target CPU s, min / median / max | ratio (median) | per Send, us |")
    print("| --- | --- | --- | --- |")
    for c in configs:
        med = statistics.median(cpu[c])
        print("| %s | %.3f / %.3f / %.3f | %.2f | %s |" % (c, min(cpu[c]), med, max(cpu[c]), med / base,
                                                        "" if c == "none" else "%.1f" % ((med - base) / args.sends * 1e6)))


if __name__ == "__main__":
    main()
