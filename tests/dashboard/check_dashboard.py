#!/usr/bin/env python3
"""Checks dashboards/dwcp-observer.json against the project's dashboard conventions (listed below).

Neither Grafana nor its dashboard linter can be installed here, so this applies the rules itself:
- a `datasource` variable (type datasource, query prometheus); `job`, `cluster`, `node`,
  `instance` query variables built on label_values() through ${datasource}; no `__inputs` and no
  `${DS_...}` import placeholders; refresh "30s";
- at least 18 panels in five rows, in order: Real-time, Performance, Business, Health, SLA, and
  the original's 18 panels each in its row;
- every panel: datasource ${datasource} (panel and targets), a unit, a description, targets;
- every range selector is [$__rate_interval]; a counter (`_total`) appears only inside rate(),
  irate() or increase(); every selector filters by a template variable;
- every metric name is one of the 21 DWCP families, the agent's own families (both read from the
  catalogue's sources, userspace/model/families.cpp and observer_families.cpp), or a recording rule.

Expressions are parsed roughly with regexes (strings and label matchers removed first).
Usage: check_dashboard.py [REPO_ROOT]
"""
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards/dwcp-observer.json"
RECORDING_RULES = ROOT / "configs/prometheus/dwcp-recording-rules.yml"

# The one catalogue of families: the model's table (userspace/model/families.cpp: the 21 dwcp_*
# families) and the agent's own (userspace/model/observer_families.cpp: dwcp_observer_*), read
# from their sources so that a family added there is known here without a second list.
CATALOGUE = ROOT / "userspace/model/families.cpp"
OBSERVER_CATALOGUE = ROOT / "userspace/model/observer_families.cpp"
ROWS = ["Real-time", "Performance", "Business", "Health", "SLA"]
ORIGINAL_PANELS = {
    "Real-time": ["AMST Active Streams", "AMST Bandwidth Utilization", "HDE Compression Ratio Distribution",
                  "AMST Throughput (Mbps)", "HDE Compression Efficiency", "HDE Delta Hit Rate"],
    "Performance": ["Migration Performance Comparison", "Error Rate (5m)", "AMST Stream Latency (P95/P99)"],
    "Business": ["Bandwidth Savings Calculator", "Daily Bandwidth Savings (TB)",
                 "Estimated Daily Cost Savings (USD)"],
    "Health": ["Component Health Matrix", "Migration Speedup Factor", "Federation Sync Performance"],
    "SLA": ["System Availability (SLA 99.9%)", "Average Migration Time (SLA < 5 min)",
            "Overall Error Rate (SLA < 1%)"],
}
COUNTER_FUNCTIONS = {"rate", "irate", "increase"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan"}
DS_UID = "${datasource}"

errors = []


def fail(message):
    errors.append(message)


def catalogue():
    """{family: type} from the catalogue's two tables: rows `{"name", Kind::gauge, ...` and
    `{"name", T::kGauge, ...`. Fails if a table yields fewer rows than it holds (its format
    changed), rather than checking against a short list."""
    dwcp = dict(re.findall(r'\{"(dwcp_[a-z0-9_]+)",\s*Kind::(\w+)', CATALOGUE.read_text()))
    observer = {name: kind.lower() for name, kind in
                re.findall(r'\{"(dwcp_observer_[a-z0-9_]+)",\s*T::k(\w+)', OBSERVER_CATALOGUE.read_text())}
    if len([f for f in dwcp if not f.startswith("dwcp_observer_")]) != 21:
        fail(f"{CATALOGUE.name}: found {len(dwcp)} dwcp_* rows, want the 21 DWCP families (table format changed?)")
    if len(observer) < 30:
        fail(f"{OBSERVER_CATALOGUE.name}: found only {len(observer)} dwcp_observer_* rows (table format changed?)")
    return {**dwcp, **observer}


def known_metrics():
    names = set()
    for family, kind in catalogue().items():
        names.add(family)
        if kind == "histogram":
            names.update(family + suffix for suffix in ("_bucket", "_sum", "_count"))
    with open(RECORDING_RULES) as f:
        for group in yaml.safe_load(f)["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def strip_expr(expr):
    """The expression without strings, label matchers, ranges and grouping clauses."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    return re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)


def metric_names(expr):
    stripped = strip_expr(expr)
    names = []
    for m in re.finditer(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", stripped):
        token = m.group(1)
        if token.lower() in KEYWORDS:
            continue
        names.append(token)
    return names


def enclosing_function(expr, pos):
    depth = 0
    for i in range(pos - 1, -1, -1):
        if expr[i] == ")":
            depth += 1
        elif expr[i] == "(":
            if depth == 0:
                m = re.search(r"([a-zA-Z_]+)\s*$", expr[:i])
                return m.group(1) if m else ""
            depth -= 1
    return ""


def check_expr(where, expr, known):
    if "__inputs" in expr or "${DS_" in expr:
        fail(f"{where}: import placeholder in expression")
    for rng in re.findall(r"\[([^\]]*)\]", re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)):
        if rng != "$__rate_interval":
            fail(f"{where}: range [{rng}] should be [$__rate_interval]")
    names = metric_names(expr)
    if not names:
        fail(f"{where}: no metric in {expr!r}")
    for name in names:
        if name not in known:
            fail(f"{where}: unknown metric {name!r}")
    for m in re.finditer(r"(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*_total)\b", expr):
        if m.group(1) in known and enclosing_function(expr, m.start()) not in COUNTER_FUNCTIONS:
            fail(f"{where}: counter {m.group(1)} outside rate()/irate()/increase()")
    for m in re.finditer(r"(?<![\w:.$])(dwcp_[a-z0-9_]+|cluster[a-z_]*:[a-z0-9_:]+)\s*(\{([^}]*)\})?", expr):
        matchers = m.group(3) or ""
        if "$" not in matchers:
            fail(f"{where}: {m.group(1)} is not filtered by a template variable")


def main():
    text = DASHBOARD.read_text()
    dashboard = json.loads(text)
    known = known_metrics()

    if "__inputs" in dashboard or "__inputs" in text:
        fail("dashboard has __inputs (an export for sharing): provisioned dashboards use the datasource variable")
    if "${DS_" in text:
        fail("dashboard uses ${DS_...} import placeholders")
    if dashboard.get("refresh") != "30s":
        fail(f"refresh is {dashboard.get('refresh')!r}, want \"30s\"")
    if not dashboard.get("uid"):
        fail("dashboard has no uid (provisioning and links need a stable one)")

    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail("need a `datasource` variable of type datasource with query prometheus")
    for name in ("job", "cluster", "node", "instance"):
        var = variables.get(name)
        if not var:
            fail(f"missing template variable {name}")
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") != "query" or not re.match(rf"label_values\((.+),\s*{name}\)$", query or ""):
            fail(f"variable {name}: want a query variable label_values(..., {name}), got {query!r}")
        if var.get("datasource", {}).get("uid") != DS_UID:
            fail(f"variable {name}: datasource is not {DS_UID}")
        else:
            m = re.match(r"label_values\((.+),\s*\w+\)$", query or "")
            if m:
                for metric in metric_names(m.group(1)):
                    if metric not in known:
                        fail(f"variable {name}: unknown metric {metric}")

    panels = dashboard.get("panels", [])
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        fail("panel ids are not unique")
    rows, current_row, by_row = [], None, {}
    count = 0
    for panel in panels:
        if panel.get("type") == "row":
            current_row = panel.get("title")
            rows.append(current_row)
            by_row[current_row] = []
            if panel.get("panels"):
                fail(f"row {current_row}: collapsed rows hide panels from this check")
            continue
        count += 1
        title = panel.get("title", "")
        where = f"panel {title!r}"
        if current_row is None:
            fail(f"{where} is above the first row")
        else:
            by_row[current_row].append(title)
        if panel.get("datasource", {}).get("uid") != DS_UID:
            fail(f"{where}: datasource is not {DS_UID}")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            fail(f"{where}: no unit (fieldConfig.defaults.unit)")
        if len(panel.get("description", "").strip()) < 20:
            fail(f"{where}: no description")
        targets = panel.get("targets", [])
        if not targets:
            fail(f"{where}: no targets")
        for target in targets:
            if target.get("datasource", {}).get("uid") != DS_UID:
                fail(f"{where} target {target.get('refId')}: datasource is not {DS_UID}")
            check_expr(f"{where} target {target.get('refId')}", target.get("expr", ""), known)
        grid = panel.get("gridPos", {})
        if grid.get("x", 0) + grid.get("w", 0) > 24:
            fail(f"{where}: wider than the 24-column grid")

    if rows != ROWS:
        fail(f"rows are {rows}, want {ROWS}")
    if count < 18:
        fail(f"{count} panels, want at least 18")
    for row, titles in ORIGINAL_PANELS.items():
        for title in titles:
            if title not in by_row.get(row, []):
                fail(f"original panel {title!r} is not in row {row}")

    if errors:
        for message in errors:
            print("FAIL:", message)
        print(f"{len(errors)} problem(s) in {DASHBOARD}")
        return 1
    print(f"OK: {count} panels in rows {', '.join(rows)}; variables {', '.join(variables)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
