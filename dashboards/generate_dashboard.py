#!/usr/bin/env python3
"""Writes dashboards/dwcp-observer.json, the Grafana dashboard of DWCP and of the observer agent.

The JSON is generated so that every panel follows the same rules (datasource variable, unit,
description, $__rate_interval, label filters) without copy-paste drift. Edit the panel table
below, then run:

    python3 dashboards/generate_dashboard.py            # rewrite the JSON
    python3 dashboards/generate_dashboard.py --check    # exit 1 if the JSON is out of date

tests/dashboard/ checks the result (structure, conventions, metric names) and, against a live
Prometheus, every panel query (tests/dashboard/panel_queries.py).
"""
import argparse
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent / "dwcp-observer.json"
DS = {"type": "prometheus", "uid": "${datasource}"}

# Label filters, by what a series carries.
NODE = 'cluster=~"$cluster", node=~"$node", job=~"$job", instance=~"$instance", target=~"$target"'  # raw dwcp_* series
RULE_NODE = 'cluster=~"$cluster", node=~"$node"'  # cluster_node:* recording rules
RULE_CLUSTER = 'cluster=~"$cluster"'  # cluster:* recording rules
CLUSTER_RAW = 'cluster=~"$cluster", job=~"$job", instance=~"$instance", target=~"$target"'  # families without `node`
AGENT = 'job=~"$job", instance=~"$instance"'  # dwcp_observer_* (the agent's own labels)
# The agent's own series carry no cluster/node: they follow $cluster/$node through the agent's
# dwcp_amst_streams_active (present from its first scrape), matched on instance and job.
ON_NODE = ('and on (instance, job) group by (instance, job) '
           '(dwcp_amst_streams_active{cluster=~"$cluster", node=~"$node", job=~"$job", instance=~"$instance"})')
# Recording rules keep cluster and node (or cluster) only: a node's ratio or quantile cannot be
# split by agent or target afterwards. Their panels follow $job/$instance/$target to the nodes
# (clusters) the selected agents and targets report from, through dwcp_amst_streams_active
# (present from an agent's first scrape, forwarded by federation.yml), and show those nodes'
# (clusters') figures.
ON_RULE_NODE = "and on (cluster, node) group by (cluster, node) (dwcp_amst_streams_active{%s})" % NODE
ON_RULE_CLUSTER = "and on (cluster) group by (cluster) (dwcp_amst_streams_active{%s})" % NODE


def rule_node(name):
    return "(%s{%s} %s)" % (name, RULE_NODE, ON_RULE_NODE)


def rule_cluster(name):
    return "(%s{%s} %s)" % (name, RULE_CLUSTER, ON_RULE_CLUSTER)


# Series with a `target` label (one agent watches up to 16 processes).
AGENT_TARGET = AGENT + ', target=~"$target"'
# The overhead figure, the very expression of DWCPObserverProbeOverhead (and what `top` shows).
OVERHEAD = "max by (instance, job) (dwcp_observer_probe_overhead_ratio{%s} %s)" % (AGENT, ON_NODE)
RI = "$__rate_interval"


def t(expr, legend, **extra):
    target = {"expr": expr, "legendFormat": legend}
    target.update(extra)
    return target


# (title, type, unit, description, targets, extra panel fields)
ROWS = [
    ("Real-time", [
        ("AMST Active Streams", "timeseries", "short",
         "Open AMST streams (dwcp_amst_streams_active). A line that only grows means streams are opened and never closed.",
         [t(f"sum by (cluster, node) (dwcp_amst_streams_active{{{NODE}}})", "{{cluster}}/{{node}}")], {}),
        ("AMST Bandwidth Utilization", "gauge", "percent",
         "Share of the available bandwidth AMST uses (dwcp_amst_bandwidth_utilization_percent). Alerts below 20% (info) and above 90% (warning).",
         [t(f"max by (cluster, node) (dwcp_amst_bandwidth_utilization_percent{{{NODE}}})", "{{cluster}}/{{node}}")],
         {"thresholds": [(None, "blue"), (20, "green"), (90, "red")], "min": 0, "max": 100}),
        ("HDE Compression Ratio Distribution", "heatmap", "none",
         "Distribution of HDE compression ratios (original/compressed) per second, from the dwcp_hde_compression_ratio histogram buckets.",
         [t(f"sum by (le) (rate(dwcp_hde_compression_ratio_bucket{{{NODE}}}[{RI}]))", "{{le}}", format="heatmap")],
         {}),
        ("AMST Throughput (Mbps)", "timeseries", "Mbits",
         "Payload bytes AMST sends and receives, in megabits per second over 5m (recording rules over dwcp_amst_bytes_sent_total / _received_total, whose per-stream series stay in the cluster's Prometheus; per node: $job/$instance/$target select the nodes they report from).",
         [t(f"{rule_node('cluster_node:dwcp_amst_throughput_megabits:rate5m')}", "sent {{cluster}}/{{node}}"),
          t(f"{rule_node('cluster_node:dwcp_amst_received_megabits:rate5m')}", "received {{cluster}}/{{node}}")], {}),
        ("HDE Compression Efficiency", "timeseries", "percent",
         "Share of bytes HDE removed: 100 x (1 - compressed/original), from dwcp_hde_bytes_original_total and dwcp_hde_bytes_compressed_total.",
         [t(f"100 * (1 - sum by (cluster, node) (rate(dwcp_hde_bytes_compressed_total{{{NODE}}}[{RI}])) / sum by (cluster, node) (rate(dwcp_hde_bytes_original_total{{{NODE}}}[{RI}])))",
            "{{cluster}}/{{node}}")], {"min": 0, "max": 100}),
        ("HDE Delta Hit Rate", "timeseries", "percent",
         "Share of HDE encodes that found a baseline to delta against (dwcp_hde_delta_hit_rate_percent). Alert below 50% (info).",
         [t(f"avg by (cluster, node) (dwcp_hde_delta_hit_rate_percent{{{NODE}}})", "{{cluster}}/{{node}}")], {"min": 0, "max": 100}),
    ]),
    ("Performance", [
        ("Migration Performance Comparison", "timeseries", "s",
         "Migration time with DWCP (dwcp_enabled=true) against without, median and p95 over 1h (recording rules on dwcp_migration_duration_seconds).",
         [t(f"{rule_cluster('cluster_dwcp_enabled:dwcp_migration_duration_seconds:p50_1h')}", "p50 {{cluster}} dwcp_enabled={{dwcp_enabled}}"),
          t(f"{rule_cluster('cluster_dwcp_enabled:dwcp_migration_duration_seconds:p95_1h')}", "p95 {{cluster}} dwcp_enabled={{dwcp_enabled}}")], {}),
        ("Error Rate (5m)", "timeseries", "percentunit",
         "AMST errors per AMST operation (stream opens, sends, receives) over 5m (cluster_node:dwcp_amst_errors_per_operation:ratio_rate5m). Warning above 5%, critical above 20%.",
         [t(f"{rule_node('cluster_node:dwcp_amst_errors_per_operation:ratio_rate5m')}", "{{cluster}}/{{node}}")],
         {"thresholds": [(None, "green"), (0.05, "orange"), (0.2, "red")]}),
        ("AMST Stream Latency (P95/P99)", "timeseries", "s",
         "95th and 99th percentile of AMST stream_duration over 10m (dwcp_amst_latency_seconds{operation=\"stream_duration\"}). Warning when p95 > 1s.",
         [t(f"{rule_node('cluster_node:dwcp_amst_stream_duration_seconds:p95_10m')}", "p95 {{cluster}}/{{node}}"),
          t(f"{rule_node('cluster_node:dwcp_amst_stream_duration_seconds:p99_10m')}", "p99 {{cluster}}/{{node}}")], {}),
        ("AMST Errors by Type", "timeseries", "ops",
         "AMST errors per second by error_type (dwcp_amst_errors_total), to see which failure drives the error rate.",
         [t(f"sum by (cluster, node, error_type) (rate(dwcp_amst_errors_total{{{NODE}}}[{RI}]))", "{{error_type}} {{cluster}}/{{node}}")], {}),
        ("HDE Operations and Success Rate", "timeseries", "percentunit",
         "Share of HDE operations that succeeded over 5m (cluster_node:dwcp_hde_operations_success:ratio_rate5m). Warning below 95%.",
         [t(f"{rule_node('cluster_node:dwcp_hde_operations_success:ratio_rate5m')}", "{{cluster}}/{{node}}")],
         {"thresholds": [(None, "red"), (0.95, "green")], "min": 0, "max": 1}),
        ("Kernel TCP Throughput (observer)", "timeseries", "Bps",
         "Bytes on the target's TCP sockets as the kernel counts them (tracepoints, headers excluded), per pid. Compare with AMST Throughput: a gap means probes miss calls.",
         [t(f"sum by (instance, pid) (rate(dwcp_observer_tcp_bytes_sent_total{{{AGENT}}}[{RI}]) {ON_NODE})", "sent {{instance}} pid {{pid}}"),
          t(f"sum by (instance, pid) (rate(dwcp_observer_tcp_bytes_received_total{{{AGENT}}}[{RI}]) {ON_NODE})", "received {{instance}} pid {{pid}}")], {}),
        ("Kernel TCP Retransmits and Resets (observer)", "timeseries", "ops",
         "TCP retransmits and resets per second on the target's sockets (tcp_retransmit_skb, inet_sock_set_state). Rising retransmits explain falling throughput.",
         [t(f"sum by (instance, pid) (rate(dwcp_observer_tcp_retransmits_total{{{AGENT}}}[{RI}]) {ON_NODE})", "retransmits {{instance}} pid {{pid}}"),
          t(f"sum by (instance, pid, direction) (rate(dwcp_observer_tcp_resets_total{{{AGENT}}}[{RI}]) {ON_NODE})", "resets {{direction}} {{instance}} pid {{pid}}")], {}),
        ("Kernel TCP Connections and SRTT (observer)", "timeseries", "s",
         "Smoothed round-trip time of the target's TCP connections (dwcp_observer_tcp_srtt_seconds); connection opens/closes per second on the right axis.",
         [t(f"max by (instance, pid) (dwcp_observer_tcp_srtt_seconds{{{AGENT}}} {ON_NODE})", "srtt {{instance}} pid {{pid}}"),
          t(f"sum by (instance, pid) (rate(dwcp_observer_tcp_connections_opened_total{{{AGENT}}}[{RI}]) {ON_NODE})", "opened/s {{instance}} pid {{pid}}"),
          t(f"sum by (instance, pid) (rate(dwcp_observer_tcp_connections_closed_total{{{AGENT}}}[{RI}]) {ON_NODE})", "closed/s {{instance}} pid {{pid}}")],
         {"overrides_ops": ["/opened|closed/"]}),
    ]),
    ("Business", [
        ("Bandwidth Savings Calculator", "stat", "Mbits",
         "WAN bandwidth HDE compression saves right now, in megabits per second (original minus compressed bytes over 5m).",
         [t(f"sum({rule_node('cluster_node:dwcp_hde_bandwidth_saved_megabits:rate5m')})", "saved")], {}),
        ("Daily Bandwidth Savings (TB)", "stat", "dectbytes",
         "Terabytes not sent over the last 24h: by HDE compression, and by federation baseline reuse (dwcp_federation_bandwidth_saved_bytes_total).",
         [t(f"sum({rule_cluster('cluster:dwcp_hde_bandwidth_saved_terabytes:increase24h')})", "HDE"),
          t(f"sum({rule_cluster('cluster:dwcp_federation_bandwidth_saved_terabytes:increase24h')})", "federation")], {}),
        ("Estimated Daily Cost Savings (USD)", "stat", "currencyUSD",
         "Saved gigabytes over 24h times 0.02 USD/GB, the original's assumed egress price (cluster:dwcp_hde_cost_savings_usd:increase24h).",
         [t(f"sum({rule_cluster('cluster:dwcp_hde_cost_savings_usd:increase24h')})", "USD")], {}),
        ("Overall Compression (1h)", "stat", "none",
         "Original bytes / compressed bytes over 1h per cluster (cluster:dwcp_hde_compression_ratio:bytes_rate1h).",
         [t(f"{rule_cluster('cluster:dwcp_hde_compression_ratio:bytes_rate1h')}", "ratio {{cluster}}")], {}),
        ("Federation Bandwidth Saved", "timeseries", "Gbits",
         "Bandwidth federation syncs save by sending deltas against shared baselines, in Gbit/s over 1h (dwcp_federation_bandwidth_saved_bytes_total).",
         [t(f"{rule_cluster('cluster:dwcp_federation_bandwidth_saved_gigabits:rate1h')}", "{{cluster}}")], {}),
    ]),
    ("Health", [
        ("Component Health Matrix", "state-timeline", "none",
         "dwcp_system_component_health per component: 2 healthy, 1 degraded, 0 down.",
         [t(f"min by (cluster, node, component) (dwcp_system_component_health{{{NODE}}})", "{{node}} {{component}}")],
         {"mappings": [("0", "Down", "red"), ("1", "Degraded", "orange"), ("2", "Healthy", "green")]}),
        ("Migration Speedup Factor", "timeseries", "suffix:x",
         "How many times faster migrations run with DWCP, by VM type: the current gauge and its 1h average.",
         [t(f"max by (cluster, vm_type) (dwcp_migration_speedup_factor{{{CLUSTER_RAW}}})", "now {{cluster}} {{vm_type}}"),
          t(f"{rule_cluster('cluster_vm_type:dwcp_migration_speedup_factor:avg1h')}", "1h avg {{cluster}} {{vm_type}}")], {}),
        ("Federation Sync Performance", "timeseries", "s",
         "95th percentile of federation sync time per remote cluster over 10m (dwcp_federation_sync_duration_seconds). Warning above 2s.",
         [t(f"{rule_cluster('cluster_remote_cluster:dwcp_federation_sync_duration_seconds:p95_10m')}", "{{cluster}} -> {{remote_cluster}}")], {}),
        ("Components Down / Degraded", "stat", "short",
         "How many components are down or degraded per node now (recording rules over dwcp_system_component_health).",
         [t(f"sum({rule_node('cluster_node:dwcp_system_components_down:count')})", "down"),
          t(f"sum({rule_node('cluster_node:dwcp_system_components_degraded:count')})", "degraded")],
         {"thresholds": [(None, "green"), (1, "red")]}),
        ("Observer Target Up", "state-timeline", "none",
         "1 while the agent sees its DWCP process (dwcp_observer_target_up), 0 once it is gone. Alert DWCPObserverTargetDown.",
         [t(f"max by (instance, pid, target) (dwcp_observer_target_up{{{AGENT_TARGET}}} {ON_NODE})", "{{instance}} {{target}} pid {{pid}}")],
         {"mappings": [("0", "Down", "red"), ("1", "Up", "green")]}),
        ("Observer Probes Attached", "timeseries", "short",
         "uprobes attached to each target pid (dwcp_observer_probes_attached). A drop while the target lives fires DWCPObserverProbesDetached.",
         [t(f"max by (instance, pid) (dwcp_observer_probes_attached{{{AGENT}}} {ON_NODE})", "{{instance}} pid {{pid}}")], {}),
        ("Observer Probe States", "timeseries", "short",
         "How many profile probes are in each state per agent (dwcp_observer_probe_state == 1): attached, sampled (the probe budget attaches it part of every interval: counts it feeds cover only dwcp_observer_probe_sample_ratio of the time), absent (not in this build) or refused (address not vouched for); and the lowest sample ratio.",
         [t(f"count by (instance, state) (dwcp_observer_probe_state{{{AGENT}}} == 1 {ON_NODE})", "{{state}} {{instance}}"),
          t(f"min by (instance) (dwcp_observer_probe_sample_ratio{{{AGENT}}} {ON_NODE})", "sample ratio {{instance}}")], {}),
        ("Observer Events and Losses", "timeseries", "ops",
         "Events per second the agent decodes by kind, and events lost by probe and reason (ring buffer full, map full, ...). Any loss fires DWCPObserverEventsLost after 5m.",
         [t(f"sum by (instance, kind) (rate(dwcp_observer_events_total{{{AGENT}}}[{RI}]) {ON_NODE})", "{{kind}} {{instance}}"),
          t(f"sum by (instance, probe, reason) (rate(dwcp_observer_events_lost_total{{{AGENT}}}[{RI}]) {ON_NODE})", "LOST {{probe}} {{reason}} {{instance}}"),
          t(f"sum by (instance, label) (rate(dwcp_observer_labels_overflow_total{{{AGENT}}}[{RI}]) {ON_NODE})", "overflow {{label}} {{instance}}"),
          t(f"sum by (instance, reason) (rate(dwcp_observer_invalid_events_total{{{AGENT}}}[{RI}]) {ON_NODE})", "invalid {{reason}} {{instance}}")], {}),
        ("Observer Probe Overhead", "timeseries", "percentunit",
         "Share of the targets' CPU time spent in the uprobes (dwcp_observer_probe_overhead_ratio): the figure DWCPObserverProbeOverhead alerts on (above 3% for 10m) and `dwcp-observer top` shows. Which probes cost most: dwcp_observer_probe_overhead_seconds_total.",
         [t(OVERHEAD, "{{instance}}")],
         {"thresholds": [(None, "green"), (0.02, "orange"), (0.03, "red")]}),
        ("Observer Probe Hits", "timeseries", "ops",
         "Probe hits per second (dwcp_observer_probe_hits_total): how often each uprobe or tracepoint ran.",
         [t(f"sum by (instance, probe) (rate(dwcp_observer_probe_hits_total{{{AGENT}}}[{RI}]) {ON_NODE})", "{{probe}} {{instance}}")], {}),
        ("Versions", "table", "none",
         "DWCP version seen in each cluster (dwcp_system_version_info) and the observer agent's build (dwcp_observer_build_info).",
         [t(f"max by (cluster, version, git_commit, build_date) (dwcp_system_version_info{{{CLUSTER_RAW}}})", "DWCP {{version}}", format="table", instant=True),
          t(f"max by (instance, version, revision) (dwcp_observer_build_info{{{AGENT}}} {ON_NODE})", "observer {{version}}", format="table", instant=True)], {}),
    ]),
    ("SLA", [
        ("System Availability (SLA 99.9%)", "stat", "percentunit",
         "Share of component-time up (degraded counts as up) over 14 days (fits a 15-day retention), per cluster (cluster:dwcp_system_component_availability:avg14d). SLA 99.9%.",
         [t(f"{rule_cluster('cluster:dwcp_system_component_availability:avg14d')}", "{{cluster}}")],
         {"thresholds": [(None, "red"), (0.999, "green")], "decimals": 3}),
        ("Average Migration Time (SLA < 5 min)", "stat", "s",
         "Mean migration time over 24h per cluster (cluster:dwcp_migration_duration_seconds:avg24h). SLA: below 300s.",
         [t(f"{rule_cluster('cluster:dwcp_migration_duration_seconds:avg24h')}", "{{cluster}}")],
         {"thresholds": [(None, "green"), (300, "red")]}),
        ("Overall Error Rate (SLA < 1%)", "stat", "percentunit",
         "AMST errors per AMST operation (stream opens, sends, receives) over 24h per cluster (cluster:dwcp_amst_errors_per_operation:ratio_rate24h). SLA: below 1%.",
         [t(f"{rule_cluster('cluster:dwcp_amst_errors_per_operation:ratio_rate24h')}", "{{cluster}}")],
         {"thresholds": [(None, "green"), (0.01, "red")], "decimals": 2}),
        ("Mean Compression Ratio (24h)", "stat", "none",
         "Mean HDE compression ratio over 24h per cluster (cluster:dwcp_hde_compression_ratio:avg24h).",
         [t(f"{rule_cluster('cluster:dwcp_hde_compression_ratio:avg24h')}", "{{cluster}}")], {"decimals": 2}),
        ("Availability (5m)", "timeseries", "percentunit",
         "Share of component-time up over the last 5m per node (cluster_node:dwcp_system_component_availability:avg5m): the short-term view of the 30-day SLA.",
         [t(f"{rule_node('cluster_node:dwcp_system_component_availability:avg5m')}", "{{cluster}}/{{node}}")],
         {"thresholds": [(None, "red"), (0.999, "green")], "min": 0, "max": 1}),
    ]),
]


def field_config(unit, extra):
    defaults = {"unit": unit}
    for key in ("min", "max", "decimals"):
        if key in extra:
            defaults[key] = extra[key]
    steps = extra.get("thresholds", [(None, "green")])
    defaults["thresholds"] = {"mode": "absolute",
                              "steps": [{"color": color, "value": value} for value, color in steps]}
    if "mappings" in extra:
        defaults["mappings"] = [{"type": "value", "options": {
            value: {"text": text, "color": color, "index": i}
            for i, (value, text, color) in enumerate(extra["mappings"])}}]
        defaults["color"] = {"mode": "thresholds"}
    overrides = []
    for regex in extra.get("overrides_ops", []):
        overrides.append({"matcher": {"id": "byRegexp", "options": regex},
                          "properties": [{"id": "unit", "value": "ops"},
                                         {"id": "custom.axisPlacement", "value": "right"}]})
    return {"defaults": defaults, "overrides": overrides}


def panel_options(kind):
    if kind == "heatmap":
        return {"calculate": False, "yAxis": {"axisPlacement": "left"},
                "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                "cellGap": 1, "tooltip": {"show": True, "yHistogram": True}}
    if kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    if kind == "gauge":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showThresholdMarkers": True}
    if kind == "state-timeline":
        return {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9}
    if kind == "table":
        return {"showHeader": True}
    return {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"}}


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0, "regex": "", "options": [],
    }


def build():
    panels = []
    next_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append({"id": next_id, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x = 0
        for title, kind, unit, description, targets, extra in row_panels:
            width = 8
            if x + width > 24:
                x = 0
                y += 8
            panel = {
                "id": next_id, "type": kind, "title": title, "description": description,
                "datasource": DS,
                "gridPos": {"h": 8, "w": width, "x": x, "y": y},
                "fieldConfig": field_config(unit, extra),
                "options": panel_options(kind),
                "targets": [],
            }
            for i, target in enumerate(targets):
                full = {"datasource": DS, "refId": chr(ord("A") + i), "editorMode": "code",
                        "range": not target.get("instant", False)}
                full.update(target)
                panel["targets"].append(full)
            panels.append(panel)
            next_id += 1
            x += width
        y += 8
    return {
        "title": "DWCP Observer",
        "uid": "dwcp-observer",
        "description": "DWCP (novacron WAN transfer protocol) seen from outside by dwcp-observer: AMST streams, HDE compression, migrations, federation, component health, SLAs, and the agent's own health.",
        "tags": ["dwcp", "ebpf", "novacron"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 38,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "1h"]},
        "timezone": "browser",
        "links": [{"title": "Runbooks", "type": "link", "targetBlank": True,
                   "url": "https://github.com/dwcp-observer/dwcp-observer/blob/main/docs/runbooks.md"}],
        "annotations": {"list": [{
            "builtIn": 0, "datasource": DS, "enable": True, "iconColor": "red",
            "name": "DWCP alerts", "expr": 'ALERTS{alertname=~"DWCP.*", alertstate="firing", cluster=~"$cluster"}',
            "titleFormat": "{{alertname}}", "textFormat": "{{cluster}} {{node}} {{instance}}"}]},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
            # From series the global Prometheus has too (configs/prometheus/federation.yml forwards
            # them): dwcp_amst_streams_active exists per agent from its first scrape.
            variable("job", "Job", "label_values(dwcp_amst_streams_active, job)"),
            variable("cluster", "Cluster", 'label_values(dwcp_amst_streams_active{job=~"$job"}, cluster)'),
            variable("node", "Node", 'label_values(dwcp_amst_streams_active{job=~"$job", cluster=~"$cluster"}, node)'),
            variable("instance", "Instance",
                     'label_values(dwcp_amst_streams_active{job=~"$job", cluster=~"$cluster", node=~"$node"}, instance)'),
            variable("target", "Target", 'label_values(dwcp_observer_target_up{job=~"$job", instance=~"$instance"}, target)'),
        ]},
        "panels": panels,
    }


def render():
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON differs from the generator")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python3 dashboards/generate_dashboard.py", file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
