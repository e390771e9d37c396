#!/usr/bin/env python3
"""Shows that check_rules.py catches what it claims to about alert tests: each mutation of the
shipped rules or their promtool tests must make it fail with the expected message, and the
shipped set must pass."""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NEW_ALERT = """
      - alert: DWCPTestOnlyRatio
        expr: sum by (cluster) (rate(dwcp_amst_errors_total[5m])) / sum by (cluster) (rate(dwcp_amst_streams_total[5m])) > 0.5
        labels: {severity: info, subsystem: amst, family: test_only}
        annotations:
          summary: "s"
          description: "d"
          runbook_url: "https://github.com/dwcp-observer/dwcp-observer/blob/main/docs/runbooks.md#dwcphigherrorrate"
"""


def untag(tag):
    def apply(root):
        for path in (root / "tests/rules").glob("*.test.yml"):
            path.write_text(path.read_text().replace(f"'{tag} ", "'"))
    return apply


def tag_mid_name(root):
    path = root / "tests/rules/budget_denominators.test.yml"
    path.write_text(path.read_text().replace("'[zero denominator] no migration", "'slow ones gone [zero denominator] no migration", 1))


def add_alert(root):
    path = root / "configs/prometheus/dwcp-alerts.yml"
    text = path.read_text()
    path.write_text(re.sub(r"(  - name: dwcp-amst-alerts\n    rules:\n)", lambda m: m.group(1) + NEW_ALERT.lstrip("\n"), text, 1))


MUTATIONS = {
    "no zero-denominator case": (untag("[zero denominator]"), "DWCPMigrationSlow: divides, but no"),
    "no sampled-probe case": (untag("[probe sampled]"), "DWCPObserverEventsLost: reads a family a sampled probe feeds"),
    "tag inside the name": (tag_mid_name, "goes at the start of the name"),
    "new dividing alert without tests": (add_alert, "DWCPTestOnlyRatio: divides, but no"),
    "new alert never fires in a test": (add_alert, "DWCPTestOnlyRatio: no test case where it fires"),
}


def copy_tree(root):
    for rel in ("configs/prometheus", "tests/rules"):
        shutil.copytree(ROOT / rel, root / rel)
    (root / "docs").mkdir()
    for doc in ("runbooks.md", "deployment.md"):
        shutil.copy(ROOT / "docs" / doc, root / "docs" / doc)


def run(root):
    return subprocess.run([sys.executable, str(HERE / "check_rules.py"), str(root)], capture_output=True, text=True)


def main():
    failures = 0
    shipped = run(ROOT)
    if shipped.returncode != 0:
        print("FAIL: the shipped rules do not pass:\n" + shipped.stdout)
        failures += 1
    for name, (apply, expected) in MUTATIONS.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            copy_tree(root)
            apply(root)
            result = run(root)
            if result.returncode == 0 or expected not in result.stdout:
                print(f"FAIL: mutation {name!r} not caught (want {expected!r}):\n{result.stdout}{result.stderr}")
                failures += 1
            else:
                print(f"ok: mutation {name!r} caught")
    print(f"{len(MUTATIONS) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
