#!/usr/bin/python3
"""Budget soak (issue #25): a long-running DWCP fixture, idle with bursts of operations, watched
for MINUTES by the agent at its DEFAULT probe budget, scraped by a real Prometheus that loads the
shipped recording rules and alerts unchanged. Passes when, over the whole run:
  - no probe was sampled (max_over_time of dwcp_observer_probe_demoted is 0 for every probe): an
    idle target with bursts must not be judged over budget by a false estimate;
  - no count was lost: at the end, every figure of the fixture's ground truth equals the agent's,
    exactly (the same table as test_go_functions.py, plus the socket bytes of the target);
  - no alert fired (ALERTS{alertstate="firing"} never present; pending ones are listed).
Not in ctest (it runs for half an hour). Root, a build, Debian's prometheus.

  DWCP_OBSERVER_BIN=build/userspace/agent/dwcp-observer DWCP_FIXTURE_DIR=build/tests/fixtures \\
    python3 tests/bench/soak_budget.py --minutes 30

Prints one progress line a minute and a summary for docs/soak.md; exit 0 on a pass, 1 otherwise."""
import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "rules"))
sys.path.insert(0, str(HERE.parent / "e2e"))

from harness import AgentProcess, Fixture, value, wait_for, wait_for_transfer  # noqa: E402
import prometheus_e2e_config  # noqa: E402
from test_go_functions import actual, expected  # noqa: E402
from test_prometheus_e2e import PROMETHEUS, PrometheusProcess  # noqa: E402

JOB = "dwcp-observer"


def log(text):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def series(result, label):
    return sorted(r["metric"].get(label, "?") for r in result)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", default="1", help="fixture --rate: transfers and workload-all rounds per second")
    ap.add_argument("--burst-every", default="5m", help="fixture --burst-every")
    ap.add_argument("--burst-count", default="500", help="fixture --burst-count")
    ap.add_argument("--scrape-interval", default="2s", help="Prometheus scrape and rule evaluation interval")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak_budget: needs root (BPF)")

    workdir = tempfile.mkdtemp(prefix="dwcp-soak-budget-")
    fixture = agent = prometheus = None
    try:
        fixture = Fixture(args=["--workload", "all", "--transfers", "0", "--duration", "%ds" % (args.minutes * 60),
                                "--rate", args.rate, "--burst-every", args.burst_every, "--burst-count",
                                args.burst_count, "--transfer-size", "262144", "--streams", "4"])
        pid = str(fixture.pid)
        # The default budget: no --probe-budget, no --probe-budget-interval.
        agent = AgentProcess(["--pid", pid, "--cluster", "soak", "--node", "n1", "--link-capacity-mbps", "1000"],
                             budget_off=False)
        config = prometheus_e2e_config.write_config(workdir, [agent.address], job=JOB, overrides=(),
                                                    scrape_interval=args.scrape_interval,
                                                    evaluation_interval=args.scrape_interval)
        prometheus = PrometheusProcess(PROMETHEUS, config, workdir)
        up = 'up{job="%s"}' % JOB
        if not wait_for(lambda: prometheus.scalar(up) == 1, timeout=30, interval=0.5):
            sys.exit("Prometheus does not scrape the agent:\n" + prometheus.log()[-2000:])
        log("fixture %s, agent %s, Prometheus %s; load %s" % (pid, agent.address, prometheus.url, load()))
        fixture.go()
        start = time.time()
        end = start + args.minutes * 60
        while time.time() < end:
            time.sleep(min(60, max(0, end - time.time())))
            alerts = prometheus.query("ALERTS")
            s = agent.samples()
            log("%4.0f s: load %s, target CPU %.1f s, overhead share %.4f %%, sampled %s, events %d, alerts %s" % (
                time.time() - start, load(), cpu_seconds(fixture.pid),
                100 * (value(s, "dwcp_observer_probe_overhead_ratio") or 0),
                [dict(ls)["probe"] for (n, ls), v in s.items() if n == "dwcp_observer_probe_demoted" and v == 1] or "none",
                value(s, "dwcp_observer_events_total") or 0,
                ["%s/%s" % (a["metric"]["alertname"], a["metric"]["alertstate"]) for a in alerts] or "none"))
        truth = fixture.wait_done(timeout=300)
        run_seconds = time.time() - start
        want = expected(truth, chunk_probes=False)
        want["socket bytes written"] = truth["socket_bytes_written"]
        want["socket bytes read"] = truth["socket_bytes_read"]
        last = {}

        def compare():
            # DWCP's own figures are read from the target on timers: wait until they have all arrived.
            s = last["samples"] = agent.samples()
            got = actual(s, want)
            got["socket bytes written"] = value(s, "dwcp_observer_tcp_bytes_sent_total", pid=pid)
            got["socket bytes read"] = value(s, "dwcp_observer_tcp_bytes_received_total", pid=pid)
            last["wrong"] = {k: (got.get(k), w) for k, w in want.items() if got.get(k) != w}
            return not last["wrong"]
        wait_for_transfer(agent.samples, truth, pid, timeout=60)
        wait_for(compare, timeout=60, interval=1)
        s, wrong = last["samples"], last["wrong"]
        lost = {dict(ls).get("reason", "?"): v for (n, ls), v in s.items()
                if n == "dwcp_observer_events_lost_total" and v}

        time.sleep(3 * float(args.scrape_interval.rstrip("s")))  # the last figures scraped and evaluated
        window = "%ds" % (run_seconds + 60)
        ever = prometheus.query("max_over_time(ALERTS[%s])" % window)
        fired = sorted({r["metric"]["alertname"] for r in ever if r["metric"].get("alertstate") == "firing"})
        pending = sorted({r["metric"]["alertname"] for r in ever if r["metric"].get("alertstate") == "pending"})
        sampled = series(prometheus.query("max_over_time(dwcp_observer_probe_demoted[%s]) > 0" % window), "probe")
        share = prometheus.scalar("max(max_over_time(dwcp_observer_probe_overhead_ratio[%s]))" % window) or 0
        budget_lines = [line for line in agent.log().splitlines() if "probe budget" in line]

        print("\n## Soak under the default budget: %.1f min, rate %s/s, bursts of %s every %s; load at end %s" % (
            run_seconds / 60, args.rate, args.burst_count, args.burst_every, load()))
        print("- target: %d sends, %d receives, %d HDE compressions, %d encodes, %d migrations, %d syncs; "
              "%.1f s of CPU" % (truth["sends"], truth["receives"],
                                 truth["hde"]["compress_memory_calls"] + truth["hde"]["compress_disk_calls"],
                                 truth["hde"]["encode_calls"],
                                 truth["migrations"]["memory_calls"] + truth["migrations"]["disk_calls"],
                                 truth["federation"]["sync_calls"], cpu_seconds(fixture.pid)))
        print("- figures equal to the fixture's truth: %d of %d%s" % (
            len(want) - len(wrong), len(want), "" if not wrong else "; wrong (agent, truth): %s" % wrong))
        print("- events lost: %s" % (lost or "none"))
        print("- probes sampled at any time: %s; largest overhead share scraped: %.4f %%" % (
            sampled or "none", 100 * share))
        print("- budget log lines: %s" % (budget_lines or "none"))
        print("- alerts fired: %s; pending at some time: %s" % (fired or "none", pending or "none"))
        ok = not wrong and not sampled and not fired and not lost
        print("- verdict: %s" % ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        for proc in (prometheus, agent, fixture):
            if proc:
                proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
