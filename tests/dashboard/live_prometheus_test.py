#!/usr/bin/env python3
"""A live run without the agent: a real Prometheus (Debian's 2.42, on 127.0.0.1) scrapes the
synthetic exporter (every family the agent exports) with the shipped rules, written by
tests/rules/prometheus_e2e_config.py. Then:

1. every dashboard panel query and variable query returns data (panel_queries.py);
2. every recording rule returns data and every rule is loaded and healthy (recording_queries.py);
3. scripts/verify.sh passes against the exporter and Prometheus;
4. the short-`for` variant of DWCPObserverTargetDown fires within seconds for the exporter's
   target whose dwcp_observer_target_up is 0;
5. a second, global Prometheus federating the first with the shipped federation.yml (its one
   job, the cluster target replaced by the first Prometheus, intervals 1s): every dashboard
   panel query and variable query returns data there too.

Usage: live_prometheus_test.py [--prometheus /usr/bin/prometheus] [--keep]
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests/rules"))

import prometheus_e2e_config  # noqa: E402
import synthetic_exporter  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.5)
    print(f"FAIL: timed out after {timeout}s waiting for {what} ({last})")
    return False


def write_federation_config(tmp, cluster_prom_port):
    """The shipped federation.yml with one cluster: the local Prometheus; 1s intervals."""
    import yaml
    config = yaml.safe_load((ROOT / "configs/prometheus/federation.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s",
               static_configs=[{"targets": [f"127.0.0.1:{cluster_prom_port}"], "labels": {"source_prometheus": "c1"}}])
    path = tmp / "federation.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not os.access(args.prometheus, os.X_OK):
        print(f"FAIL: no prometheus binary at {args.prometheus} (apt-get install prometheus)")
        return 1

    exporter, exporter_port = synthetic_exporter.serve(gone_target=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dwcp-live-"))
    prom_port = free_port()
    prom_url = f"http://127.0.0.1:{prom_port}"
    config = prometheus_e2e_config.write_config(tmp, [f"127.0.0.1:{exporter_port}"])
    log = open(tmp / "prometheus.log", "w")
    prometheus = subprocess.Popen(
        [args.prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT)
    results = []
    global_prom = global_log = None
    try:
        ok = wait_for("Prometheus /-/ready", lambda: urllib.request.urlopen(prom_url + "/-/ready", timeout=2).status == 200, 30)
        ok = ok and wait_for("the exporter target to be up", lambda: any(
            t["health"] == "up" for t in get_json(prom_url + "/api/v1/targets")["data"]["activeTargets"]), 30)
        if not ok:
            print((tmp / "prometheus.log").read_text()[-3000:])
            return 1
        time.sleep(3)  # a few scrapes, so that rate() has two samples

        def run(name, argv):
            print(f"--- {name}: {' '.join(argv)}", flush=True)
            code = subprocess.run(argv, timeout=180).returncode
            results.append((name, code == 0))

        run("panel queries", [sys.executable, str(HERE / "panel_queries.py"), prom_url, "--wait", "30"])
        run("recording rules", [sys.executable, str(ROOT / "tests/rules/recording_queries.py"), prom_url,
                                "--wait", "30", "--rules", str(tmp / "dwcp-recording-rules.yml"),
                                "--rules", str(tmp / "dwcp-alerts.yml")])
        run("verify.sh", ["bash", str(ROOT / "scripts/verify.sh"), f"http://127.0.0.1:{exporter_port}", prom_url])

        global_port = free_port()
        global_log = open(tmp / "global.log", "w")
        global_prom = subprocess.Popen(
            [args.prometheus, f"--config.file={write_federation_config(tmp, prom_port)}",
             f"--storage.tsdb.path={tmp / 'global-data'}", f"--web.listen-address=127.0.0.1:{global_port}"],
            stdout=global_log, stderr=subprocess.STDOUT)
        global_url = f"http://127.0.0.1:{global_port}"
        if wait_for("the global Prometheus federating the local one", lambda: any(
                t["health"] == "up" for t in get_json(global_url + "/api/v1/targets")["data"]["activeTargets"]), 30):
            run("panel queries on the global Prometheus (federation.yml)",
                [sys.executable, str(HERE / "panel_queries.py"), global_url, "--wait", "60"])
        else:
            print((tmp / "global.log").read_text()[-3000:])
            results.append(("global Prometheus up", False))

        print("--- short-for DWCPObserverTargetDown fires for the gone target", flush=True)
        fired = wait_for("DWCPObserverTargetDown firing", lambda: any(
            a["labels"].get("alertname") == "DWCPObserverTargetDown" and a["state"] == "firing"
            and a["labels"].get("target") == "dwcp-gone"
            for a in get_json(prom_url + "/api/v1/alerts")["data"]["alerts"]), 30)
        if fired:
            print("ok: DWCPObserverTargetDown{target=\"dwcp-gone\"} firing")
        results.append(("short-for target-down alert", fired))
    finally:
        if global_prom:
            global_prom.terminate()
            try:
                global_prom.wait(timeout=15)
            except subprocess.TimeoutExpired:
                global_prom.kill()
            global_log.close()
        prometheus.terminate()
        try:
            prometheus.wait(timeout=15)
        except subprocess.TimeoutExpired:
            prometheus.kill()
        exporter.shutdown()
        log.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    failed = [name for name, ok in results if not ok]
    for name, ok in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"live: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
