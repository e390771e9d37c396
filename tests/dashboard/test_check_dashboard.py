#!/usr/bin/env python3
"""Shows that check_dashboard.py catches what it claims to: each mutation of the shipped
dashboard must make it fail with the expected message, and the shipped one must pass."""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def mutate_expr(old, new):
    def apply(d):
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                if old in target["expr"]:
                    target["expr"] = target["expr"].replace(old, new, 1)
                    return
        raise AssertionError(f"{old!r} not found in any expression")
    return apply


def first_panel(change):
    def apply(d):
        change(next(p for p in d["panels"] if p["type"] != "row"))
    return apply


MUTATIONS = {
    "counter outside rate()": (mutate_expr(
        'rate(dwcp_hde_bytes_original_total{cluster=~"$cluster", node=~"$node", job=~"$job", instance=~"$instance", target=~"$target"}[$__rate_interval])',
        'dwcp_hde_bytes_original_total{cluster=~"$cluster", node=~"$node", job=~"$job", instance=~"$instance", target=~"$target"}'),
        "outside rate()"),
    "fixed range": (mutate_expr("[$__rate_interval]", "[5m]"), "should be [$__rate_interval]"),
    "unknown metric": (mutate_expr("dwcp_amst_streams_active{", "dwcp_amst_streams_open{"), "unknown metric"),
    "no filter": (mutate_expr('dwcp_hde_delta_hit_rate_percent{cluster=~"$cluster", node=~"$node", job=~"$job", instance=~"$instance", target=~"$target"}',
                              "dwcp_hde_delta_hit_rate_percent"), "not filtered by a template variable"),
    "no unit": (first_panel(lambda p: p["fieldConfig"]["defaults"].pop("unit")), "no unit"),
    "no description": (first_panel(lambda p: p.pop("description")), "no description"),
    "fixed datasource": (first_panel(lambda p: p.update(datasource={"type": "prometheus", "uid": "P1"})),
                         "datasource is not"),
    "__inputs": (lambda d: d.update(__inputs=[{"name": "DS_PROMETHEUS"}]), "__inputs"),
    "no datasource variable": (lambda d: d["templating"]["list"].pop(0), "`datasource` variable"),
    "row renamed": (lambda d: next(p for p in d["panels"] if p["type"] == "row").update(title="Live"), "rows are"),
    "refresh": (lambda d: d.update(refresh="5s"), "refresh is"),
}


def run(root):
    return subprocess.run([sys.executable, str(HERE / "check_dashboard.py"), str(root)],
                          capture_output=True, text=True)


def main():
    failures = 0
    shipped = run(ROOT)
    if shipped.returncode != 0:
        print("FAIL: the shipped dashboard does not pass:\n" + shipped.stdout)
        failures += 1
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "dashboards").mkdir()
        (root / "configs/prometheus").mkdir(parents=True)
        shutil.copy(ROOT / "configs/prometheus/dwcp-recording-rules.yml", root / "configs/prometheus/")
        (root / "userspace/model").mkdir(parents=True)
        for source in ("families.cpp", "observer_families.cpp"):
            shutil.copy(ROOT / "userspace/model" / source, root / "userspace/model/")
        original = json.loads((ROOT / "dashboards/dwcp-observer.json").read_text())
        for name, (apply, expected) in MUTATIONS.items():
            dashboard = json.loads(json.dumps(original))
            apply(dashboard)
            (root / "dashboards/dwcp-observer.json").write_text(json.dumps(dashboard))
            result = run(root)
            if result.returncode == 0 or expected not in result.stdout:
                print(f"FAIL: mutation {name!r} not caught (want {expected!r}):\n{result.stdout}{result.stderr}")
                failures += 1
            else:
                print(f"ok: mutation {name!r} caught")
        # The family list comes from the catalogue's sources: a table the checker can no longer
        # read fails, rather than leaving it a short list.
        (root / "dashboards/dwcp-observer.json").write_text(json.dumps(original))
        catalogue = root / "userspace/model/observer_families.cpp"
        catalogue.write_text(catalogue.read_text().replace("T::k", "Type::k"))
        result = run(root)
        if result.returncode == 0 or "table format changed" not in result.stdout:
            print(f"FAIL: mutation 'catalogue unreadable' not caught:\n{result.stdout}{result.stderr}")
            failures += 1
        else:
            print("ok: mutation 'catalogue unreadable' caught")
    print(f"{len(MUTATIONS) + 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
