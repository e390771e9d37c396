#!/usr/bin/env python3
"""Tests configs/alertmanager/alertmanager.yml:

1. routing, with `amtool config routes test`: each severity reaches its receiver;
2. inhibition, against a real Alertmanager (Debian's prometheus-alertmanager) started on
   127.0.0.1 with the shipped config: alerts are posted, and the API must report exactly the
   expected ones as inhibited (critical silences the warning of its family on the same
   cluster/node/component/instance, not others; DWCPObserverTargetDown silences the other
   observer alerts of its instance, and DWCPComponentDown of its instance and target).

Usage: alertmanager_test.py [--amtool amtool] [--alertmanager prometheus-alertmanager]
"""
import argparse
import datetime
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/alertmanager/alertmanager.yml"

# (labels, receiver it must reach)
ROUTES = [
    ({"alertname": "DWCPComponentDown", "severity": "critical", "cluster": "c1"}, "dwcp-critical"),
    ({"alertname": "DWCPObserverTargetDown", "severity": "critical", "instance": "a:9090"}, "dwcp-critical"),
    ({"alertname": "DWCPHighErrorRate", "severity": "warning", "cluster": "c1"}, "dwcp-warning"),
    ({"alertname": "DWCPLowDeltaHitRate", "severity": "info", "cluster": "c1"}, "dwcp-info"),
    ({"alertname": "SomethingElse"}, "dwcp-default"),
    ({"alertname": "SomethingElse", "severity": "page"}, "dwcp-default"),
]


def alert(name, severity, family, **labels):
    return dict(labels, alertname=name, severity=severity, family=family)


# (alert labels, expected to be inhibited)
INHIBITION = [
    (alert("DWCPCriticalErrorRate", "critical", "amst_errors", cluster="c1", node="n1"), False),
    (alert("DWCPHighErrorRate", "warning", "amst_errors", cluster="c1", node="n1"), True),
    (alert("DWCPHighErrorRate", "warning", "amst_errors", cluster="c1", node="n2"), False),  # other node
    (alert("DWCPHighErrorRate", "warning", "amst_errors", cluster="c2", node="n1"), False),  # other cluster
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n1", component="hde"), False),
    (alert("DWCPComponentDegraded", "warning", "component_health", cluster="c1", node="n1", component="hde"), True),
    (alert("DWCPComponentDegraded", "warning", "component_health", cluster="c1", node="n1", component="amst"), False),
    (alert("DWCPHighLatency", "warning", "amst_latency", cluster="c1", node="n1"), False),  # other family
    (alert("DWCPHighBandwidthUtilization", "warning", "amst_bandwidth_high", cluster="c1", node="n1"), False),
    (alert("DWCPLowBandwidthUtilization", "info", "amst_bandwidth_low", cluster="c1", node="n1"), False),
    (alert("DWCPObserverTargetDown", "critical", "observer_target", instance="a:9090", job="dwcp-observer",
           subsystem="observer"), False),
    (alert("DWCPObserverEventsLost", "warning", "observer_events", instance="a:9090", job="dwcp-observer",
           subsystem="observer", probe="send"), True),
    (alert("DWCPObserverLabelOverflow", "info", "observer_labels", instance="a:9090", job="dwcp-observer",
           subsystem="observer", label="stream_id"), True),
    (alert("DWCPObserverEventsLost", "warning", "observer_events", instance="b:9090", job="dwcp-observer",
           subsystem="observer", probe="send"), False),  # other instance
    # The target of agent a:9090 exited: TargetDown pages, the components it set down do not.
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n1", component="amst",
           instance="a:9090", job="dwcp-observer", subsystem="system"), True),
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n2", component="amst",
           instance="b:9090", job="dwcp-observer", subsystem="system"), False),  # other agent
    # Agent d:9090 observes one target: its TargetDown has target="pid-42", its dwcp_* series none.
    (alert("DWCPObserverTargetDown", "critical", "observer_target", instance="d:9090", job="dwcp-observer",
           subsystem="observer", target="pid-42"), False),
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n4", component="amst",
           instance="d:9090", job="dwcp-observer", subsystem="system"), True),
    # Agent c:9090 observes two targets: only the one that went down hides its components.
    (alert("DWCPObserverTargetDown", "critical", "observer_target", instance="c:9090", job="dwcp-observer",
           subsystem="observer", target="pid-1"), False),
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n3", component="hde",
           instance="c:9090", job="dwcp-observer", subsystem="system", target="pid-1"), True),
    (alert("DWCPComponentDown", "critical", "component_health", cluster="c1", node="n3", component="hde",
           instance="c:9090", job="dwcp-observer", subsystem="system", target="pid-2"), False),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_routes(amtool, failures, config=CONFIG):
    for labels, receiver in ROUTES:
        argv = [amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receiver}"]
        argv += [f"{k}={v}" for k, v in labels.items()]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        got = result.stdout.strip()
        if result.returncode != 0:
            failures.append(f"route {labels} -> want {receiver}, got {got or result.stderr.strip()}")
            print(f"FAIL route {labels}: want {receiver}, got {got}")
        else:
            print(f"ok   route {labels} -> {got}")


def label_key(labels):
    return tuple(sorted(labels.items()))


def test_inhibition(binary, failures, config=CONFIG):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dwcp-am-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "alertmanager.log", "w")
    process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                failures.append("Alertmanager did not become ready")
                print("FAIL Alertmanager did not start:\n" + (tmp / "alertmanager.log").read_text()[-2000:])
                return
            time.sleep(0.3)

        now = datetime.datetime.now(datetime.timezone.utc)
        ends = (now + datetime.timedelta(hours=1)).isoformat()
        body = json.dumps([{"labels": labels, "annotations": {"summary": "test"}, "startsAt": now.isoformat(),
                            "endsAt": ends} for labels, _ in INHIBITION]).encode()
        request = urllib.request.Request(url + "/api/v2/alerts", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5)

        expected = {label_key(labels): inhibited for labels, inhibited in INHIBITION}
        deadline = time.monotonic() + 20
        while True:  # the inhibitor picks up source alerts asynchronously
            alerts = json.load(urllib.request.urlopen(url + "/api/v2/alerts", timeout=5))
            got = {label_key(a["labels"]): bool(a["status"]["inhibitedBy"]) for a in alerts}
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for labels, inhibited in INHIBITION:
            key = label_key(labels)
            name = f"{labels['alertname']}{{{', '.join(f'{k}={v}' for k, v in labels.items() if k not in ('alertname', 'severity', 'family'))}}}"
            if key not in got:
                failures.append(f"{name} not in Alertmanager")
                print(f"FAIL {name}: not found in /api/v2/alerts")
            elif got[key] != inhibited:
                failures.append(f"{name} inhibited={got[key]}, want {inhibited}")
                print(f"FAIL {name}: inhibited={got[key]}, want {inhibited}")
            else:
                print(f"ok   {name}: {'inhibited' if inhibited else 'not inhibited'}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amtool", default=shutil.which("amtool") or "amtool")
    parser.add_argument("--alertmanager", default=shutil.which("prometheus-alertmanager")
                        or shutil.which("alertmanager") or "prometheus-alertmanager")
    parser.add_argument("--config", type=pathlib.Path, default=CONFIG, help="Alertmanager config to test")
    args = parser.parse_args()
    for tool in (args.amtool, args.alertmanager):
        if not shutil.which(tool):
            print(f"FAIL {tool} not found (apt-get install prometheus-alertmanager)")
            return 1
    failures = []
    test_routes(args.amtool, failures, args.config)
    test_inhibition(args.alertmanager, failures, args.config)
    total = len(ROUTES) + len(INHIBITION)
    print(f"alertmanager: {total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
