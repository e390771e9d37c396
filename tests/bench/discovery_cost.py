#!/usr/bin/python3
"""What discovery costs: the agent's CPU time while it watches an idle node with --processes
extra idle processes (sleep), against the same agent attached by --pid; and the time from a DWCP
process's exec (just before Popen) to its probes being attached (target_up == 1 on /metrics,
polled every 5 ms), p50/p99 over --starts starts of one executable, each stopped before the next
(the first start reads and parses the binary; the others are restarts); then --fresh first
sightings: each start of a new file renamed over the executable (an upgrade), read and parsed from
scratch. Run as root:

  sudo DWCP_OBSERVER_BIN=build/userspace/agent/dwcp-observer DWCP_FIXTURE_DIR=build/tests/fixtures \\
       python3 tests/bench/discovery_cost.py [--seconds 30] [--starts 100] [--processes 0,1000,5000] \\
       [--fresh 20] [--variant dwcp-fixture]

Discovery is limited with --allow-path to the benchmark's own directory (so that it attaches to
nothing else on the machine); every exec on the node is still judged, and /proc is scanned at
start and every 60 s. The idle window begins after the first scan has seen every process."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import AgentProcess, Fixture, value  # noqa: E402
from targets import private_copy, private_dir, unique  # noqa: E402



def cpu_seconds(pid):
    """CPU time of every thread of `pid`, from the scheduler's nanosecond count (schedstat):
    utime/stime come in 10 ms ticks, and 0.1 % of a core over 20 s is two of them."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended: its time is lost to the count (the agent's are long-lived)
    return total / 1e9


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_cpu(agent, seconds, processes):
    # Past start-up: BPF load, calibration, and the first /proc scan, which reads 1,024 processes
    # a second until it has seen them all (then a resync every 60 s).
    time.sleep(2 + processes / 1024)
    before = cpu_seconds(agent.proc.pid)
    time.sleep(seconds)
    return (cpu_seconds(agent.proc.pid) - before) / seconds


def exec_to_attached(agent, path):
    began = time.monotonic()
    fx = Fixture(path)
    while value(agent.samples(), "dwcp_observer_target_up", pid=str(fx.pid)) != 1:
        if time.monotonic() - began > 10:
            fx.stop()
            raise RuntimeError("process %d not attached after 10 s: %s" % (fx.pid, agent.log()[-2000:]))
        time.sleep(0.005)
    took = time.monotonic() - began
    fx.stop()
    return took


def upgraded(directory, variant, path):
    """`path` replaced by a new file (a new inode, as a package upgrade renames one into place):
    the same service and target, an executable the agent has never seen."""
    os.rename(private_copy(directory, variant, unique("dw-new")), path)
    return path


def spread(latencies):
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return "min %.0f / p50 %.0f / p99 %.0f / max %.0f ms" % (
        1000 * ordered[0], 1000 * statistics.median(ordered), 1000 * p99, 1000 * ordered[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--processes", default="0", help="extra idle processes per run, comma-separated")
    parser.add_argument("--fresh", type=int, default=0, help="first sightings: starts of an executable replaced by a new file")
    parser.add_argument("--variant", default="dwcp-fixture-stripped-pie", help="fixture build to start")
    args = parser.parse_args()
    for extra in [int(n) for n in args.processes.split(",")]:
        sleepers = [subprocess.Popen(["sleep", "3600"]) for _ in range(extra)]
        try:
            run(args)
        finally:
            for p in sleepers:
                p.kill()
                p.wait()


def run(args):
    directory = private_dir()
    try:
        path = private_copy(directory, args.variant, unique("dw-bench"))
        processes = sum(1 for e in os.listdir("/proc") if e.isdigit())

        fixture = Fixture(path)
        pinned = AgentProcess(["--pid", str(fixture.pid)])
        pid_share = idle_cpu(pinned, args.seconds, processes)
        pinned.stop()
        fixture.stop()

        agent = AgentProcess(["--allow-path", directory])
        discovery_share = idle_cpu(agent, args.seconds, processes)
        latencies = [exec_to_attached(agent, path) for _ in range(args.starts)]
        fresh = [exec_to_attached(agent, upgraded(directory, args.variant, path)) for _ in range(args.fresh)]
        rss = rss_kib(agent.proc.pid)
        load = os.getloadavg()
        agent.stop()
        print("processes on the node: %d (load average %.2f %.2f %.2f at the end)" % ((processes,) + load))
        print("agent CPU while idle, --pid: %.2f %% of one core" % (100 * pid_share))
        print("agent CPU while idle, discovery: %.2f %% of one core" % (100 * discovery_share))
        print("first start (the binary read and parsed): %.0f ms" % (1000 * latencies[0]))
        print("exec to attached (%s, %d starts): %s" % (args.variant, len(latencies), spread(latencies)), flush=True)
        if fresh:
            print("exec to attached, first sightings (%s, %d new files): %s" % (args.variant, len(fresh), spread(fresh)),
                  flush=True)
        print("agent RSS after the starts: %d KiB" % rss)
    finally:
        shutil.rmtree(directory, True)


if __name__ == "__main__":
    main()
