#!/usr/bin/env python3
"""A stand-in for the dwcp-observer agent: serves every family the agent exports, with moving
values, on 127.0.0.1. Used by the live tests (Prometheus scrapes it, then every dashboard query
and recording rule must return data) and by the verify.sh test. Not a model of DWCP's behaviour:
the numbers only need to be plausible and to grow.

    synthetic_exporter.py [--port 0] [--cluster c1] [--node n1] [--omit FAMILY] [--not-ready]

prints "listening on 127.0.0.1:PORT" and serves /metrics, /-/healthy, /-/ready until killed.
"""
import argparse
import http.server
import threading
import time

FAMILIES_21 = [
    "dwcp_amst_streams_active", "dwcp_amst_streams_total", "dwcp_amst_bytes_sent_total",
    "dwcp_amst_bytes_received_total", "dwcp_amst_errors_total", "dwcp_amst_latency_seconds",
    "dwcp_amst_bandwidth_utilization_percent", "dwcp_hde_compression_ratio", "dwcp_hde_operations_total",
    "dwcp_hde_delta_hit_rate_percent", "dwcp_hde_baseline_count", "dwcp_hde_dictionary_efficiency_percent",
    "dwcp_hde_bytes_original_total", "dwcp_hde_bytes_compressed_total", "dwcp_migration_duration_seconds",
    "dwcp_migration_speedup_factor", "dwcp_federation_sync_duration_seconds",
    "dwcp_federation_bandwidth_saved_bytes_total", "dwcp_system_component_health",
    "dwcp_system_config_enabled", "dwcp_system_version_info",
]


def _labels(**labels):
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class Metrics:
    def __init__(self, cluster, node, omit=(), gone_target=False):
        self.cluster, self.node, self.omit = cluster, node, set(omit)
        self.gone_target = gone_target
        self.start = time.monotonic()

    def render(self):
        t = time.monotonic() - self.start + 1.0  # > 0 so every counter has moved
        out = []
        base = {"cluster": self.cluster, "node": self.node}

        def family(name, kind, samples):
            if name in self.omit:
                return
            out.append(f"# HELP {name} synthetic {name}")
            out.append(f"# TYPE {name} {kind}")
            for suffix, labels, value in samples:
                out.append(f"{name}{suffix}{_labels(**labels)} {value}")

        def histogram(name, bounds, series):
            """series: (labels, observations per second, bucket bound they all fall in)."""
            samples = []
            for labels, rate_per_s, where in series:
                count = rate_per_s * t
                samples += [("_bucket", dict(labels, le=str(b)), count if b >= where else 0) for b in bounds]
                samples.append(("_bucket", dict(labels, le="+Inf"), count))
                samples.append(("_sum", labels, count * where * 0.75))
                samples.append(("_count", labels, count))
            family(name, "histogram", samples)

        family("dwcp_amst_streams_active", "gauge", [("", base, 8)])
        family("dwcp_amst_streams_total", "counter", [("", dict(base, result="success"), 2 * t),
                                                       ("", dict(base, result="failure"), 0.01 * t)])
        family("dwcp_amst_bytes_sent_total", "counter",
               [("", dict(base, stream_id=str(i)), 125000 * t * (i + 1)) for i in range(2)])
        family("dwcp_amst_bytes_received_total", "counter",
               [("", dict(base, stream_id=str(i)), 1000 * t) for i in range(2)])
        family("dwcp_amst_errors_total", "counter", [("", dict(base, error_type="timeout"), 0.02 * t)])
        histogram("dwcp_amst_latency_seconds", [0.001 * 2 ** k for k in range(12)],
                  [(dict(base, operation="stream_duration"), 2, 0.128), (dict(base, operation="send"), 20, 0.004)])
        family("dwcp_amst_bandwidth_utilization_percent", "gauge", [("", base, 55)])
        histogram("dwcp_hde_compression_ratio", [1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50],
                  [(dict(base, data_type="vm_memory"), 5, 3)])
        family("dwcp_hde_operations_total", "counter",
               [("", dict(base, operation="compress", result="success"), 5 * t),
                ("", dict(base, operation="decompress", result="success"), 5 * t),
                ("", dict(base, operation="compress", result="failure"), 0)])
        family("dwcp_hde_delta_hit_rate_percent", "gauge", [("", base, 72.5)])
        family("dwcp_hde_baseline_count", "gauge", [("", dict(base, baseline_type="vm_memory"), 12)])
        family("dwcp_hde_dictionary_efficiency_percent", "gauge", [("", base, 80)])
        family("dwcp_hde_bytes_original_total", "counter", [("", dict(base, data_type="vm_memory"), 300000 * t)])
        family("dwcp_hde_bytes_compressed_total", "counter", [("", dict(base, data_type="vm_memory"), 100000 * t)])
        mig = {"cluster": self.cluster, "source_node": self.node, "dest_node": "n2"}
        histogram("dwcp_migration_duration_seconds", [2 ** k for k in range(10)],
                  [(dict(mig, dwcp_enabled="true"), 0.1, 16), (dict(mig, dwcp_enabled="false"), 0.1, 128)])
        family("dwcp_migration_speedup_factor", "gauge", [("", {"cluster": self.cluster, "vm_type": "large"}, 8)])
        fed = {"cluster": self.cluster, "remote_cluster": "c2"}
        histogram("dwcp_federation_sync_duration_seconds", [0.01 * 2 ** k for k in range(10)],
                  [(dict(fed, sync_type="state"), 0.5, 0.32)])
        family("dwcp_federation_bandwidth_saved_bytes_total", "counter", [("", fed, 50000 * t)])
        family("dwcp_system_component_health", "gauge",
               [("", dict(base, component=c), 2) for c in ("amst", "hde", "migration", "federation")])
        family("dwcp_system_config_enabled", "gauge", [("", dict(base, feature="hde"), 1)])
        family("dwcp_system_version_info", "gauge",
               [("", {"cluster": self.cluster, "version": "1.0.0", "git_commit": "abc123",
                      "build_date": "2025-11-08"}, 1)])

        # The agent's own families: labels pid/probe/..., no cluster/node.
        pid = {"pid": "4242"}
        family("dwcp_observer_build_info", "gauge", [("", {"version": "0.1.0", "revision": "synthetic"}, 1)])
        targets = [("", dict(pid, target="dwcp"), 1)]
        if self.gone_target:
            targets.append(("", {"pid": "4343", "target": "dwcp-gone"}, 0))
        family("dwcp_observer_target_up", "gauge", targets)
        family("dwcp_observer_probes_attached", "gauge", [("", pid, 14)])
        family("dwcp_observer_events_total", "counter",
               [("", {"kind": k}, 10 * t) for k in ("stream_open", "send", "compress")])
        family("dwcp_observer_events_lost_total", "counter", [("", {"probe": "send", "reason": "ringbuf_full"}, 0)])
        family("dwcp_observer_labels_overflow_total", "counter", [("", {"label": "stream_id"}, 0)])
        family("dwcp_observer_invalid_events_total", "counter", [("", {"reason": "empty_id"}, 0)])
        family("dwcp_observer_tcp_bytes_sent_total", "counter", [("", pid, 260000 * t)])
        family("dwcp_observer_tcp_bytes_received_total", "counter", [("", pid, 3000 * t)])
        family("dwcp_observer_tcp_retransmits_total", "counter", [("", pid, 0.1 * t)])
        family("dwcp_observer_tcp_resets_total", "counter",
               [("", dict(pid, direction="sent"), 0), ("", dict(pid, direction="received"), 0.01 * t)])
        family("dwcp_observer_tcp_connections_opened_total", "counter", [("", pid, 0.1 * t)])
        family("dwcp_observer_tcp_connections_closed_total", "counter", [("", pid, 0.09 * t)])
        family("dwcp_observer_tcp_srtt_seconds", "gauge", [("", pid, 0.0042)])
        family("dwcp_observer_probe_hits_total", "counter", [("", {"probe": p}, 20 * t) for p in ("send", "compress")])
        family("dwcp_observer_probe_overhead_seconds_total", "counter",
               [("", {"probe": p}, 0.0001 * t) for p in ("send", "compress")])
        family("dwcp_observer_probe_overhead_ratio", "gauge", [("", {}, 0.0148)])
        family("dwcp_observer_targets_attached", "gauge", [("", {}, 1)])
        states = {"send": "attached", "compress": "sampled", "adjust_streams": "absent"}
        family("dwcp_observer_probe_state", "gauge",
               [("", dict(pid, probe=p, state=st), 1 if st == states[p] else 0)
                for p in states for st in ("attached", "sampled", "absent", "refused")])
        family("dwcp_observer_probe_sample_ratio", "gauge",
               [("", {"probe": p}, 0.25 if states[p] == "sampled" else 1) for p in ("send", "compress")])
        return "\n".join(out) + "\n"


def serve(port=0, cluster="c1", node="n1", omit=(), ready=True, gone_target=False):
    """Starts the exporter in a daemon thread; returns (server, port)."""
    metrics = Metrics(cluster, node, omit, gone_target)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/metrics"):
                body, status, ctype = metrics.render(), 200, "text/plain; version=0.0.4"
            elif self.path == "/-/healthy":
                body, status, ctype = "OK\n", 200, "text/plain"
            elif self.path == "/-/ready":
                body, status, ctype = ("ready\n", 200, "text/plain") if ready else ("no target\n", 503, "text/plain")
            else:
                body, status, ctype = "not found\n", 404, "text/plain"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster", default="c1")
    parser.add_argument("--node", default="n1")
    parser.add_argument("--omit", action="append", default=[], help="leave this family out (repeatable)")
    parser.add_argument("--not-ready", action="store_true", help="answer 503 on /-/ready")
    parser.add_argument("--gone-target", action="store_true", help="also export a target with target_up 0")
    args = parser.parse_args()
    _, port = serve(args.port, args.cluster, args.node, args.omit, not args.not_ready, args.gone_target)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
