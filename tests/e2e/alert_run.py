#!/usr/bin/env python3
"""The shipped alerts against a real Prometheus and the real agent on a DWCP fixture, for minutes:
a healthy fixture (AMST transfers) must fire no alert; a faulty one (the whole workload, every 3rd
Send, compress, decompress, encode and decode failing: tests/fixtures README, --fail-every) must fire
the AMST error and HDE failure alerts. The agent runs with its default flags (probe budget on), Prometheus scrapes it every 5 s
and evaluates the shipped rules every 5 s with their shipped `for:` unless --short-for.

    tests/e2e/alert_run.py --mode healthy --minutes 10      # docs/runbooks.md, "Alerts on a real Prometheus"
    tests/e2e/alert_run.py --mode faulty --minutes 10
    tests/e2e/alert_run.py --mode both --minutes 0.75 --short-for 5s   # CTest e2e_alerts_short

Root and a built tree (build/) are needed. Prints every alert that was pending or firing, with
when; exit 0 when the mode's expectation holds, 1 otherwise, 77 when BPF is unavailable.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time
import shutil

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "rules"))
sys.path.insert(0, str(HERE))

from harness import AgentProcess, Fixture, bpf_unavailable_reason  # noqa: E402
import prometheus_e2e_config  # noqa: E402
from test_prometheus_e2e import PROMETHEUS, PrometheusProcess  # noqa: E402

# What a faulty fixture must fire: a third of Sends and of HDE operations fail.
EXPECTED_FAULTY = {"DWCPHighErrorRate", "DWCPCompressionFailure"}


def alert_names(rules_path):
    import yaml
    return [r["alert"] for g in yaml.safe_load(pathlib.Path(rules_path).read_text())["groups"]
            for r in g["rules"] if "alert" in r]


def run(mode, minutes, short_for):
    # Healthy: AMST transfers only. `--workload all` is not healthy: its own truth counts about 10 %
    # failed CompressMemory/CompressDisk calls (8 of 84 in 3 rounds, no fault injected), so
    # DWCPCompressionFailure fires there, rightly.
    workload = ["--workload", "all", "--fail-every", "3"] if mode == "faulty" else ["--workload", "amst"]
    fixture_args = workload + ["--transfers", "0", "--duration", "%ds" % int(minutes * 60 + 120),
                               "--rate", "5", "--streams", "4"]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dwcp-alert-run-"))
    fixture = agent = prometheus = None
    seen = {}  # alertname -> (first state seen, seconds after start)
    try:
        fixture = Fixture(args=fixture_args)
        agent = AgentProcess(["--pid", str(fixture.pid), "--cluster", "alert-run", "--node", "n1"], budget_off=False)
        fixture.go()
        overrides = ()
        if short_for:
            overrides = tuple((name, short_for) for name in alert_names(prometheus_e2e_config.CONFIG_DIR / "dwcp-alerts.yml"))
        config = prometheus_e2e_config.write_config(tmp, [agent.address], overrides=overrides,
                                                    scrape_interval="5s", evaluation_interval="5s")
        prometheus = PrometheusProcess(PROMETHEUS, config, tmp)
        start = time.time()
        while time.time() - start < minutes * 60:
            time.sleep(5)
            for a in prometheus.api("/api/v1/alerts")["alerts"]:
                name, state = a["labels"]["alertname"], a["state"]
                if name not in seen or (state == "firing" and seen[name][0] != "firing"):
                    seen[name] = (state, round(time.time() - start))
                    print("%6ds  %-8s %s %s" % (seen[name][1], state, name,
                                                {k: v for k, v in a["labels"].items() if k != "alertname"}), flush=True)
        up = prometheus.scalar('min(up{job="dwcp-observer"})')
    finally:
        for proc in (prometheus, agent, fixture):
            if proc:
                proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    firing = {name for name, (state, _) in seen.items() if state == "firing"}
    if mode == "healthy":
        ok = not firing and up == 1
        print("healthy, %.1f min: %s (agent up: %s)" % (minutes, "no alert fired" if not firing else
                                                       "FIRED " + ", ".join(sorted(firing)), up))
    else:
        missing = EXPECTED_FAULTY - firing
        ok = not missing
        print("faulty, %.1f min: fired %s%s" % (minutes, ", ".join(sorted(firing)) or "nothing",
                                                "; MISSING " + ", ".join(sorted(missing)) if missing else ""))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["healthy", "faulty", "both"], required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--short-for", help="every alert's `for:` replaced (e.g. 5s): the short CI run")
    args = parser.parse_args()
    reason = bpf_unavailable_reason()
    if reason:
        print("skipped: " + reason)
        return 1 if os.environ.get("CI") == "true" else 77
    modes = ["healthy", "faulty"] if args.mode == "both" else [args.mode]
    results = [run(mode, args.minutes, args.short_for) for mode in modes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
