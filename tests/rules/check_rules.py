#!/usr/bin/env python3
"""Checks the rule files against the project's conventions and their tests.

- every alert: name with the DWCP prefix, severity in {critical, warning, info}, subsystem and
  family labels, annotations summary/description/runbook_url, and a runbook_url whose anchor is a
  heading of docs/runbooks.md;
- the 17 alerts of the original are all there, with their original severities;
- every alert has, in the promtool test files, at least one case where it fires (exp_alerts not
  empty) and one where it stays quiet (exp_alerts empty);
- every alert that divides (its expression or a recording rule it reads has a `/` by something
  else than a number, a histogram_quantile, or a gauge the exporter computes as a quotient: a
  name ending in _ratio or _percent) stays quiet in a case whose name starts with
  "[zero denominator]";
- every alert that reads a family a probe the budget may sample feeds (SAMPLED_FAMILIES) stays
  quiet in a case whose name starts with "[probe sampled]";
- every recording rule: a `level:metric:operations` name starting with "cluster" (the federation
  match), at least 25 of them, each evaluated by a promql_expr_test;
- docs/deployment.md maps each of the original's 25 recording rule names to a rule that exists;
- no rule reads further back than Debian's default retention (15 days).

Usage: check_rules.py [REPO_ROOT]
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
ALERTS = ROOT / "configs/prometheus/dwcp-alerts.yml"
RECORDS = ROOT / "configs/prometheus/dwcp-recording-rules.yml"
TESTS = sorted((ROOT / "tests/rules").glob("*.test.yml"))
RUNBOOKS = ROOT / "docs/runbooks.md"
DEPLOYMENT = ROOT / "docs/deployment.md"
RUNBOOK_PREFIX = "https://github.com/dwcp-observer/dwcp-observer/blob/main/docs/runbooks.md#"

ORIGINAL_ALERTS = {
    "DWCPHighErrorRate": "warning", "DWCPCriticalErrorRate": "critical",
    "DWCPLowCompressionRatio": "warning", "DWCPCompressionFailure": "warning",
    "DWCPComponentDown": "critical", "DWCPComponentDegraded": "warning",
    "DWCPLowBandwidthUtilization": "info", "DWCPHighBandwidthUtilization": "warning",
    "DWCPMigrationSlow": "warning", "DWCPHighLatency": "warning", "DWCPLowDeltaHitRate": "info",
    "DWCPHighStreamCount": "warning", "DWCPExcessiveBaselines": "warning",
    "DWCPFederationSyncSlow": "warning", "DWCPLowBandwidthSavings": "info",
    "DWCPSLAViolation": "critical", "DWCPAvailabilitySLA": "critical",
}
OBSERVER_ALERTS = {"DWCPObserverTargetDown", "DWCPObserverProbesDetached", "DWCPObserverEventsLost",
                   "DWCPObserverLabelOverflow"}
ORIGINAL_RECORDS = [
    "dwcp:amst:error_rate:5m", "dwcp:amst:throughput_mbps:5m", "dwcp:amst:stream_duration_p95:10m",
    "dwcp:amst:stream_duration_p99:10m", "dwcp:hde:compression_ratio_median:10m",
    "dwcp:hde:compression_ratio_p95:10m", "dwcp:hde:bandwidth_saved_mbps:5m", "dwcp:hde:operation_rate:5m",
    "dwcp:hde:success_rate:5m", "dwcp:migration:duration_median:1h", "dwcp:migration:duration_p95:1h",
    "dwcp:migration:speedup_actual:1h", "dwcp:federation:sync_duration_p95:10m",
    "dwcp:federation:bandwidth_saved_gbps:1h", "dwcp:federation:total_savings_tb:24h",
    "dwcp:system:availability:5m", "dwcp:system:degraded_components:5m", "dwcp:system:down_components:5m",
    "dwcp:efficiency:overall_compression:1h", "dwcp:efficiency:bandwidth_savings_percent:1h",
    "dwcp:efficiency:cost_savings_usd:24h", "dwcp:sla:availability:30d", "dwcp:sla:migration_time:24h",
    "dwcp:sla:compression_ratio:24h", "dwcp:sla:error_rate:24h",
]
# Case-name tags (tests/rules/*.test.yml) the zero-denominator and sampled-probe checks read.
ZERO_TAG = "[zero denominator]"
SAMPLED_TAG = "[probe sampled]"
# Families fed, in part, by a per-operation probe, the only kind the probe budget samples
# (contract::kEventKinds: send, receive, encode, decode, compress_memory, compress_disk,
# decompress; docs/metrics.md "Sampled probes"), and the agent's figures that sampling moves or
# must not move (probes attached, lost events, the overhead it lowers). DWCP's own figures read
# from memory (bytes per stream, streams active, hit rate, baselines) are never sampled.
SAMPLED_FAMILIES = {
    "dwcp_amst_latency_seconds", "dwcp_amst_errors_total", "dwcp_hde_operations_total",
    "dwcp_hde_compression_ratio", "dwcp_hde_bytes_original_total", "dwcp_hde_bytes_compressed_total",
    "dwcp_observer_probes_attached", "dwcp_observer_events_lost_total",
    "dwcp_observer_probe_overhead_ratio",
}
RETENTION_SECONDS = 15 * 86400  # Debian's prometheus: --storage.tsdb.retention.time=15d
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
RECORD_NAME = re.compile(r"^cluster[a-z_]*:dwcp_[a-z0-9_]+:[a-z0-9_]+$")

errors = []


def fail(message):
    errors.append(message)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def github_anchor(heading):
    """GitHub's anchor for a markdown heading: lower case, spaces to '-', punctuation dropped."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def strip_expr(expr):
    """The expression without strings and label matchers (a regex may hold a '/')."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return re.sub(r"\{[^}]*\}", " ", expr)


def names_in(expr):
    return set(re.findall(r"(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])", strip_expr(expr)))


def expanded(expr, records, seen=None):
    """The expression and those of the recording rules it reads, recursively."""
    seen = set() if seen is None else seen
    parts = [expr]
    for name in names_in(expr) & records.keys() - seen:
        seen.add(name)
        parts += expanded(records[name]["expr"], records, seen)
    return parts


def divides(exprs):
    for expr in map(strip_expr, exprs):
        if re.search(r"/(?!\s*[0-9.]+(?:e[0-9]+)?(?![\w.]))", expr) or "histogram_quantile" in expr:
            return True
        if any(re.fullmatch(r"dwcp_[a-z0-9_]+_(ratio|percent)", name) for name in names_in(expr)):
            return True
    return False


def reads_sampled(exprs):
    families = set()
    for expr in exprs:
        families |= {re.sub(r"_(bucket|sum|count)$", "", n) for n in names_in(expr)} | names_in(expr)
    return bool(families & SAMPLED_FAMILIES)


def main():
    alerts, records = {}, {}
    for group in load(ALERTS)["groups"] + load(RECORDS)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                if rule["alert"] in alerts:
                    fail(f"alert {rule['alert']} is defined twice")
                alerts[rule["alert"]] = rule
            else:
                if rule["record"] in records:
                    fail(f"recording rule {rule['record']} is defined twice")
                records[rule["record"]] = rule

    anchors = {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), re.M)}

    for name, rule in alerts.items():
        if not re.fullmatch(r"DWCP[A-Z][A-Za-z]+", name):
            fail(f"{name}: alert names are CamelCase with the DWCP prefix")
        labels = rule.get("labels", {})
        if labels.get("severity") not in {"critical", "warning", "info"}:
            fail(f"{name}: severity {labels.get('severity')!r} is not critical, warning or info")
        for label in ("subsystem", "family"):
            if not labels.get(label):
                fail(f"{name}: missing label {label} (Alertmanager inhibition uses it)")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                fail(f"{name}: missing annotation {key}")
        url = annotations.get("runbook_url", "")
        if not url.startswith(RUNBOOK_PREFIX):
            fail(f"{name}: runbook_url {url!r} does not point into docs/runbooks.md")
        elif url[len(RUNBOOK_PREFIX):] not in anchors:
            fail(f"{name}: runbook anchor #{url[len(RUNBOOK_PREFIX):]} is not a heading of docs/runbooks.md")

    for name, severity in ORIGINAL_ALERTS.items():
        if name not in alerts:
            fail(f"original alert {name} is missing")
        elif alerts[name]["labels"]["severity"] != severity:
            fail(f"{name}: the original's severity is {severity}, here {alerts[name]['labels']['severity']}")
    for name in OBSERVER_ALERTS - alerts.keys():
        fail(f"observer alert {name} is missing")

    fires, quiet, quiet_zero, quiet_sampled, tested_exprs = set(), set(), set(), set(), []
    for path in TESTS:
        for case in load(path).get("tests", []):
            case_name = case.get("name", "")
            for tag in (ZERO_TAG, SAMPLED_TAG):
                if tag in case_name and not case_name.startswith(tag):
                    fail(f"{path.name}: case {case_name!r}: {tag} goes at the start of the name")
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
                if not check.get("exp_alerts"):
                    if case_name.startswith(ZERO_TAG):
                        quiet_zero.add(check["alertname"])
                    if case_name.startswith(SAMPLED_TAG):
                        quiet_sampled.add(check["alertname"])
                if check["alertname"] not in alerts:
                    fail(f"{path.name}: tests unknown alert {check['alertname']}")
            tested_exprs += [check["expr"] for check in case.get("promql_expr_test", [])]
    dividing, sampled = [], []
    for name, rule in alerts.items():
        if name not in fires:
            fail(f"{name}: no test case where it fires")
        if name not in quiet:
            fail(f"{name}: no test case where it stays quiet")
        exprs = expanded(rule["expr"], records)
        if divides(exprs):
            dividing.append(name)
            if name not in quiet_zero:
                fail(f"{name}: divides, but no \"{ZERO_TAG} ...\" case where it stays quiet")
        if reads_sampled(exprs):
            sampled.append(name)
            if name not in quiet_sampled:
                fail(f"{name}: reads a family a sampled probe feeds, but no \"{SAMPLED_TAG} ...\" case "
                     "where it stays quiet")

    if len(records) < 25:
        fail(f"only {len(records)} recording rules, the original has 25")
    for name in records:
        if not RECORD_NAME.match(name):
            fail(f"{name}: not a level:metric:operations name starting with 'cluster'")
        if not any(re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", expr) for expr in tested_exprs):
            fail(f"{name}: no promql_expr_test evaluates it")

    for name, rule in {**alerts, **records}.items():
        for span in re.findall(r"\[([0-9a-z]+)(?::[0-9a-z]*)?\]", rule["expr"]):
            seconds = sum(int(n) * UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", span))
            if seconds > RETENTION_SECONDS:
                fail(f"{name}: reads [{span}], beyond Debian's default 15-day retention")

    mapping = {}
    for line in DEPLOYMENT.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("dwcp:"):
            mapping[cells[0]] = cells[1]
    for old in ORIGINAL_RECORDS:
        if old not in mapping:
            fail(f"docs/deployment.md has no mapping row for the original rule {old}")
        elif mapping[old] not in records:
            fail(f"docs/deployment.md maps {old} to {mapping[old]}, which is not a recording rule")

    if errors:
        for message in errors:
            print("FAIL:", message)
        print(f"{len(errors)} problem(s)")
        return 1
    print(f"OK: {len(alerts)} alerts (each fires and stays quiet in tests; {len(dividing)} divide, "
          f"each quiet with a zero denominator; {len(sampled)} read sampled probes' families, each quiet "
          f"while sampled), "
          f"{len(records)} recording rules (each evaluated in tests), "
          f"{len(ORIGINAL_RECORDS)} original names mapped, {len(TESTS)} test files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
