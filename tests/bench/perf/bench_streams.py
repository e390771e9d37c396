#!/usr/bin/python3
"""Benchmark 6 (issue 12): per-stream AMST bytes without a probe per chunk. One run, alternating
rounds (order rotated each round, so machine drift hits every configuration alike):

  big:   the 16-stream loopback AMST transfer (64 KiB chunks) observed by nothing, by the agent
         (default profile: per-stream bytes from DWCP's own counters), and by bpftrace running
         benchmark 5's script (one uprobe on sendChunk counting bytes per stream);
  small: 4 KiB Sends (one chunk each) observed by nothing, by the agent, and by the agent with
         --probe-budget 0.03 (its effect on the two traps per Send).

Per configuration: the fixture's CPU (user + sys, getrusage) and wall time, min / median / max
and as ratios to the unobserved run of the same round; whether per-stream bytes equal the
fixture's ground truth; uprobe hits per chunk the agent reports; and the agent's own CPU and
peak RSS per GB transferred."""
import argparse
import os
import time

import perf_common as pc


def per_stream(samples, name):
    out = {}
    for (n, labels), v in samples.items():
        if n == name and v:
            out[dict(labels)["stream_id"]] = int(v)
    return out


def run_once(config, big_args, small_args):
    small = config.endswith("_small") or config.endswith("_budget")
    fx = pc.FixtureRun(small_args if small else big_args)
    observer = None
    try:
        if config.startswith("agent"):
            budget = ["--probe-budget", "0.03", "--probe-budget-interval", "1"] if config.endswith("_budget") else []
            observer = pc.Agent(fx.pid, budget)
        elif config == "bpftrace":
            observer = pc.Bpftrace(os.path.join(pc.HERE, "..", "bpftrace", "amst_bytes.bt"), fx.binary, fx.pid)
        time.sleep(0.5)  # let the previous run's deferred kernel work (probe freeing) finish
        agent_cpu_before = pc.cpu_seconds_of(observer.proc.pid) if isinstance(observer, pc.Agent) else 0
        fx.run()
        truth = fx.truth
        row = {"wall": fx.wall, "cpu": fx.cpu, "chunks": truth["chunks_sent"],
               "bytes": truth["socket_bytes_written"]}
        if observer:
            # In-target BPF time of the observer's programs (kernel BPF stats on for the run):
            # uprobe programs and the agent's socket tracepoints alike.
            stats = pc.prog_run_stats(pc.prog_ids_of(observer.proc.pid))
            row["bpf_ns_per_chunk"] = sum(t for t, _ in stats.values()) / row["chunks"]
        want_sent = {k: int(v) for k, v in truth["bytes_sent_per_stream"].items()}
        want_received = {k: int(v) for k, v in truth["bytes_received_per_stream"].items()}
        if isinstance(observer, pc.Agent):
            deadline = time.time() + 15
            while True:
                s = observer.samples()
                exact = (per_stream(s, "dwcp_amst_bytes_sent_total") == want_sent and
                         per_stream(s, "dwcp_amst_bytes_received_total") == want_received)
                if exact or time.time() > deadline:
                    break
                time.sleep(0.1)
            row["exact"] = exact
            hits = {dict(labels).get("probe"): int(v) for (n, labels), v in s.items()
                    if n == "dwcp_observer_probe_hits_total"}
            row["hits_per_chunk"] = (hits.get("send_chunk", 0) + hits.get("receive_chunk", 0)) / row["chunks"]
            row["hits_total_per_chunk"] = sum(hits.values()) / row["chunks"]
            row["demoted"] = sorted(dict(labels)["probe"] for (n, labels), v in s.items()
                                    if n == "dwcp_observer_probe_demoted" and v)
            row["agent_cpu"] = pc.cpu_seconds_of(observer.proc.pid) - agent_cpu_before
            row["agent_rss_kib"], row["agent_hwm_kib"] = pc.rss_kib(observer.proc.pid)
        elif isinstance(observer, pc.Bpftrace):
            maps = observer.stop()
            row["exact"] = maps.get("bytes_sent", {}) == want_sent
        return row
    finally:
        if observer:
            observer.stop()
        fx.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--transfer-size", type=int, default=32 << 20)
    ap.add_argument("--transfers", type=int, default=16)
    ap.add_argument("--small-sends", type=int, default=20000)
    ap.add_argument("--configs", default="none,agent,bpftrace,none_small,agent_small,agent_budget")
    a = ap.parse_args()
    configs = a.configs.split(",")
    big = ["--streams", str(a.streams), "--transfer-size", str(a.transfer_size), "--transfers", str(a.transfers),
           "--chunk-size", "65536", "--workload", "amst"]
    small = ["--streams", str(a.streams), "--transfer-size", "4096", "--transfers", str(a.small_sends),
             "--chunk-size", "65536", "--workload", "amst"]
    rows = {c: [] for c in configs}
    run_once("none", big, small)  # warm-up: page cache, CPU frequency
    with pc.KernelBpfStats():
        for r in range(a.rounds):
            for config in configs[r % len(configs):] + configs[:r % len(configs)]:
                row = run_once(config, big, small)
                rows[config].append(row)
                pc.log("round %d %-13s wall %.3f s cpu %.3f s %s" % (
                    r + 1, config, row["wall"], row["cpu"], {k: v for k, v in row.items() if k not in ("wall", "cpu")}))
    result = {"big_args": big, "small_args": small, "rounds": a.rounds,
              "load_average_end": open("/proc/loadavg").read().split()[:3], "configs": {}}
    for config in configs:
        base = "none_small" if (config.endswith("_small") or config.endswith("_budget")) else "none"
        rs, bs = rows[config], rows.get(base, [])
        out = {"wall_s": pc.summary([x["wall"] for x in rs]), "cpu_s": pc.summary([x["cpu"] for x in rs])}
        if config != base and bs:
            out["cpu_ratio"] = pc.summary([x["cpu"] / n["cpu"] for x, n in zip(rs, bs)])
            out["wall_ratio"] = pc.summary([x["wall"] / n["wall"] for x, n in zip(rs, bs)])
        if "bpf_ns_per_chunk" in rs[0]:
            out["bpf_ns_per_chunk"] = pc.summary([x["bpf_ns_per_chunk"] for x in rs])
        for key in ("exact", "hits_per_chunk", "hits_total_per_chunk", "demoted"):
            if key in rs[0]:
                out[key] = [x[key] for x in rs]
        if "agent_cpu" in rs[0]:
            gb = [x["bytes"] / 1e9 for x in rs]
            out["agent_cpu_s_per_gb"] = pc.summary([x["agent_cpu"] / g for x, g in zip(rs, gb)])
            out["agent_hwm_mib"] = pc.summary([x["agent_hwm_kib"] / 1024 for x in rs])
            out["gb_per_run"] = gb[0]
        result["configs"][config] = out
    pc.save("streams", result)
    for config in configs:
        r = result["configs"][config]
        line = "streams %-13s CPU %s s, wall %s s" % (config, pc.fmt(r["cpu_s"]), pc.fmt(r["wall_s"]))
        if "cpu_ratio" in r:
            line += "; CPU ratio %s, wall ratio %s" % (pc.fmt(r["cpu_ratio"], "x"), pc.fmt(r["wall_ratio"], "x"))
        if "exact" in r:
            line += "; exact %s" % r["exact"]
        if "bpf_ns_per_chunk" in r:
            line += "; BPF ns/chunk %s" % pc.fmt(r["bpf_ns_per_chunk"])
        if "hits_per_chunk" in r:
            line += "; chunk-probe hits/chunk %s, all hits/chunk max %.4f" % (
                sorted(set(r["hits_per_chunk"])), max(r["hits_total_per_chunk"]))
        if "agent_cpu_s_per_gb" in r:
            line += "; agent CPU %s s/GB, peak RSS %s MiB" % (pc.fmt(r["agent_cpu_s_per_gb"]), pc.fmt(r["agent_hwm_mib"]))
        if r.get("demoted") and any(r["demoted"]):
            line += "; demoted %s" % r["demoted"][-1]
        print(line, flush=True)


if __name__ == "__main__":
    main()
