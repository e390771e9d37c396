#!/usr/bin/python3
"""Benchmarks 2 and 5: the fixture's AMST transfer (16 streams over loopback, a fixed amount of
data) observed by nothing, by the agent (shipped profile), by the agent limited to what bpftrace
can do (sendChunk entry only), by bpftrace counting the same, and by the empty-program floor on
that one entry. Configurations take turns within each run, so that a drifting machine load
hits them alike. Figures: target CPU (user + sys from getrusage, which includes every trap) and
wall time, as ratios to the unobserved run of the same round; and whether each observer's
per-stream byte counts match the fixture's ground truth (loss); and, from the kernel's BPF stats
(on for the benchmark), each observer's BPF run time per chunk: the part of the in-target cost
that is not the trap, and that no machine load blurs."""
import argparse
import os
import time

import perf_common as pc


def per_stream_truth(truth):
    return {k: int(v) for k, v in truth["bytes_sent_per_stream"].items()}


def agent_per_stream(samples):
    out = {}
    for (name, labels), v in samples.items():
        if name == "dwcp_amst_bytes_sent_total":
            out[dict(labels)["stream_id"]] = int(v)
    return out


def run_once(config, fixture_args, offsets_entry):
    fx = pc.FixtureRun(fixture_args)
    observer = None
    try:
        if config == "agent":
            observer = pc.Agent(fx.pid)
        elif config == "agent_entry":
            observer = pc.Agent(fx.pid, ["--profile", os.path.join(pc.HERE, "sendchunk-entry-profile.json")])
        elif config == "bpftrace":
            observer = pc.Bpftrace(os.path.join(pc.HERE, "..", "bpftrace", "amst_bytes.bt"), fx.binary, fx.pid)
        elif config == "floor_entry":
            observer = pc.EmptyFloor(fx.pid, fx.binary, offsets_entry)
        time.sleep(0.5)  # let deferred kernel work of the previous run (probe and program freeing) finish
        fx.run()
        truth = per_stream_truth(fx.truth)
        row = {"wall": fx.wall, "cpu": fx.cpu, "chunks": fx.truth["chunks_sent"]}
        if observer:
            # The observer's own BPF programs (kernel BPF stats are on for the whole benchmark):
            # in-target BPF time, uprobe programs and socket tracepoints alike.
            stats = pc.prog_run_stats(pc.prog_ids_of(observer.proc.pid))
            row["bpf_ns"] = sum(t for t, _ in stats.values())
            row["bpf_runs"] = sum(c for _, c in stats.values())
            row["bpf_ns_per_chunk"] = row["bpf_ns"] / row["chunks"]
            row["bpf_by_program"] = stats
        if isinstance(observer, pc.Agent):
            if config == "agent":  # default profile: bytes from DWCP's counters, no chunk events
                samples = pc.wait_settled(observer, "dwcp_amst_bytes_sent_total", sum(truth.values()))
            else:
                samples = pc.wait_settled(observer, "dwcp_observer_events_total", fx.truth["chunks_sent"],
                                          kind="send_chunk")
            seen = agent_per_stream(samples)
            row["lost_counted"] = pc.value(samples, "dwcp_observer_events_lost_total") or 0
            row["exact"] = seen == truth
            row["bytes_missing"] = sum(truth.values()) - sum(seen.values())
            row["probe_hits"] = pc.value(samples, "dwcp_observer_probe_hits_total")
        elif isinstance(observer, pc.Bpftrace):
            maps = observer.stop()
            seen = maps.get("bytes_sent", {})
            row["exact"] = seen == truth
            row["bytes_missing"] = sum(truth.values()) - sum(seen.values())
            row["lost_lines"] = maps.get("lost_lines", [])
        return row
    finally:
        if observer:
            observer.stop()
        fx.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--transfer-size", type=int, default=32 << 20)
    ap.add_argument("--transfers", type=int, default=16)
    ap.add_argument("--chunk-size", type=int, default=65536)
    ap.add_argument("--configs", default="none,agent,agent_entry,bpftrace,floor_entry")
    a = ap.parse_args()
    configs = a.configs.split(",")
    fixture_args = ["--streams", str(a.streams), "--transfer-size", str(a.transfer_size),
                    "--transfers", str(a.transfers), "--chunk-size", str(a.chunk_size), "--workload", "amst"]
    offsets_entry = pc.uprobe_offsets(pc.FIXTURE, pc.SEND_CHUNK)[:1]
    rows = {c: [] for c in configs}
    run_once("none", fixture_args, offsets_entry)  # warm-up: page cache, CPU frequency
    with pc.KernelBpfStats():
        for run in range(a.runs):
            # Rotate the order: the first configuration of a round would otherwise always run
            # while the kernel still frees the previous round's last probes.
            for config in configs[run % len(configs):] + configs[:run % len(configs)]:
                row = run_once(config, fixture_args, offsets_entry)
                rows[config].append(row)
                pc.log("run %d %-12s wall %.3f s cpu %.3f s %s" % (
                    run + 1, config, row["wall"], row["cpu"],
                    {k: v for k, v in row.items() if k not in ("wall", "cpu", "bpf_by_program")}))
    result = {"fixture_args": fixture_args, "bytes": a.transfer_size * a.transfers, "configs": {}}
    for config in ["none"] + [c for c in configs if c != "none"]:
        r = {"wall_s": pc.summary([x["wall"] for x in rows[config]]),
             "cpu_s": pc.summary([x["cpu"] for x in rows[config]])}
        if config != "none":
            # Ratio to the unobserved run of the same round; and the ratio of the best runs, which
            # other load on the machine can only make worse, never better: on a shared machine it
            # is the figure to read (the per-round ratios then show the noise).
            r["cpu_ratio"] = pc.summary([x["cpu"] / n["cpu"] for x, n in zip(rows[config], rows["none"])])
            r["wall_ratio"] = pc.summary([x["wall"] / n["wall"] for x, n in zip(rows[config], rows["none"])])
            r["cpu_ratio_of_best"] = r["cpu_s"]["min"] / result["configs"]["none"]["cpu_s"]["min"]
            r["wall_ratio_of_best"] = r["wall_s"]["min"] / result["configs"]["none"]["wall_s"]["min"]
        if "bpf_ns_per_chunk" in rows[config][0]:
            r["bpf_ns_per_chunk"] = pc.summary([x["bpf_ns_per_chunk"] for x in rows[config]])
            r["bpf_runs_per_chunk"] = pc.summary([x["bpf_runs"] / x["chunks"] for x in rows[config]])
            r["bpf_by_program_last_run"] = rows[config][-1]["bpf_by_program"]
        for key in ("exact", "bytes_missing", "lost_counted", "probe_hits", "lost_lines"):
            if key in rows[config][0]:
                r[key] = [x[key] for x in rows[config]]
        result["configs"][config] = r
    pc.save("amst", result)
    for config in configs:
        r = result["configs"][config]
        if config == "none":
            print("AMST %s: wall %s s, CPU %s s" % (config, pc.fmt(r["wall_s"]), pc.fmt(r["cpu_s"])))
        else:
            print("AMST %s: best-run CPU ratio %.3fx, wall %.3fx; per-round CPU ratio %s, wall ratio %s; "
                  "BPF ns/chunk %s; exact counts %s" % (
                config, r["cpu_ratio_of_best"], r["wall_ratio_of_best"], pc.fmt(r["cpu_ratio"], "x"), pc.fmt(r["wall_ratio"], "x"),
                pc.fmt(r["bpf_ns_per_chunk"]), r.get("exact", "-")))


if __name__ == "__main__":
    main()
