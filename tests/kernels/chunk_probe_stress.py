#!/usr/bin/env python3
"""Stress for the 7.x finding (docs/kernels.md, "7.x: per-chunk probes refused"): the stripped
fixture runs its Go-functions workload again and again under uprobes on every entry and RET of
sendChunk/receiveChunk, and every run where the fixture dies is counted and its crash printed.
Not part of ctest: an investigation tool (a run in a TCG guest takes 30-70 s).

  chunk_probe_stress.py SUITE [--cpu MODEL] [--mode agent|tracefs] [--storm MS] [--seconds S] [--runs N]

On the host it boots SUITE's kernel (guest.py; --cpu e.g. max,la57=off for 4-level paging) and
runs itself inside. Modes: agent = dwcp-observer with the debug profile, allowed to attach the
per-chunk probes it refuses from 7.0 (DWCP_OBSERVER_PER_CHUNK_PROBES=allow); tracefs = plain
uprobe_events on the same sites, no BPF at all. --storm MS: tgkill(SIGURG) every MS ms to every
fixture thread (Go ignores a SIGURG that is not its own preemption request), so that signals
arrive while a thread steps out of line.
The guest's tracefs also records user page faults below 0x10000 and SIGSEGV deliveries, and kprobes
catch faults at a pc in the uprobe single-step page with the registers and the code bytes there.
"""
import argparse
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
T = "/sys/kernel/tracing"
VARIANT = "dwcp-fixture-stripped"
# Same workload as test_go_functions.GroundTruthOnFourBuilds: about 500 sendChunk and 500
# receiveChunk calls per run.
WORKLOAD = ("--workload all --transfers 6 --goroutines 6 --streams 3 --chunk-size 10000 --transfer-size 50000 "
            "--fail-every 5").split()
# sendChunk's and receiveChunk's entries and RETs in the non-PIE fixtures (one layout for plain and
# stripped builds); checked against the symbols of dwcp-fixture before each run.
SITES = {"receiveChunk": (0x4e7aa0, [0x4e7c93, 0x4e7d11, 0x4e7e04, 0x4e7eaa, 0x4e7ed2]),
         "sendChunk": (0x4e6b80, [0x4e6cc4, 0x4e6eb6, 0x4e6f1c, 0x4e6fd4])}
TEXT_BASE = 0x400000  # file offset = address - TEXT_BASE in these builds
# User faults whose pc is in the uprobe single-step page: the top page of the user address space
# with 4-level (0x7fffffffe000) or 5-level (0xffffffffffe000) paging.
XOL_FLOOR = 0x7fffffffe000


def tracefs_write(path, text, append=False):
    # os.open: tracefs refuses the seek that Python's append mode makes
    fd = os.open(os.path.join(T, path), os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        if text:
            os.write(fd, text.encode())
    finally:
        os.close(fd)


def check_sites(fixture_dir):
    """The site table matches this build (plain and stripped share their layout)."""
    out = subprocess.run(["nm", os.path.join(fixture_dir, "dwcp-fixture")], capture_output=True, text=True).stdout
    for function, (entry, _) in SITES.items():
        if not any(line.startswith("%016x T " % entry) and line.endswith(").%s" % function)
                   for line in out.splitlines()):
            raise SystemExit("the fixture's %s is not at 0x%x: update SITES" % (function, entry))


def trace_on(args, fixture):
    tracefs_write("events/exceptions/page_fault_user/filter", "address < 0x10000")
    tracefs_write("events/exceptions/page_fault_user/enable", "1")
    tracefs_write("events/signal/signal_deliver/filter", "sig == 11")
    tracefs_write("events/signal/signal_deliver/enable", "1")
    regs = " ".join("%s=+%d(%%di):x64" % r for r in (("ip", 128), ("flags", 144), ("sp", 152), ("r14", 8),
                                                      ("r12", 24), ("ax", 80), ("bx", 40), ("cx", 88), ("di", 112)))
    kprobes = [
        ("p:xolk/badarea __bad_area_nosemaphore %s err=%%si:x64 addr=%%dx:x64 code0=+u0(+128(%%di)):x64 "
         "code8=+u8(+128(%%di)):x64" % regs, "ip >= 0x%x" % XOL_FLOOR),
        ("p:xolk/abort arch_uprobe_abort_xol ip=+128(%si):x64", None),
        ("r:xolk/deny uprobe_deny_signal ret=$retval:u8", "ret != 0"),
    ]
    for definition, event_filter in kprobes:
        try:
            tracefs_write("kprobe_events", definition + "\n", append=True)
            if event_filter:
                tracefs_write("events/xolk/%s/filter" % definition.split()[0].split("/")[1], event_filter)
        except OSError as e:
            print("stress: kprobe %s not placed: %s" % (definition.split()[1], e), flush=True)
    if os.path.isdir(os.path.join(T, "events/xolk")):
        tracefs_write("events/xolk/enable", "1")
    if args.mode == "tracefs":
        for function, (entry, rets) in SITES.items():
            for i, address in enumerate([entry] + rets):
                event = "p:xolstress/%s_%d %s:0x%x\n" % (function, i, fixture, address - TEXT_BASE)
                tracefs_write("uprobe_events", event, append=True)
        tracefs_write("events/xolstress/enable", "1")


def trace_off(args):
    if args.mode == "tracefs":
        print("stress: uprobe hits: " + open(os.path.join(T, "uprobe_profile")).read().replace("\n", " | "))
        tracefs_write("events/xolstress/enable", "0")
        tracefs_write("uprobe_events", "")
    if os.path.isdir(os.path.join(T, "events/xolk")):
        tracefs_write("events/xolk/enable", "0")
    tracefs_write("kprobe_events", "")
    tracefs_write("events/exceptions/page_fault_user/enable", "0")
    tracefs_write("events/signal/signal_deliver/enable", "0")


def trace_text():
    with open(os.path.join(T, "trace")) as f:
        return "".join(line for line in f if not line.startswith("#"))[-4000:]


def sigurg_storm(pid, period, stop, sent):
    libc = ctypes.CDLL(None, use_errno=True)
    while not stop.is_set():
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return
        for tid in tids:
            if libc.syscall(234, pid, int(tid), int(signal.SIGURG)) == 0:  # tgkill
                sent[0] += 1
        time.sleep(period)


def inside(args):
    """In the guest: the loop."""
    sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
    from harness import AgentProcess, Fixture, fixture_path  # noqa: E402
    with open("/proc/cpuinfo") as f:
        paging = 5 if " la57" in f.read() else 4
    print("stress: kernel %s, %d-level paging, mode=%s storm=%s ms" % (os.uname().release, paging, args.mode,
                                                                       args.storm), flush=True)
    trace_on(args, fixture_path(VARIANT))
    runs = crashes = 0
    started = time.time()
    try:
        while runs < args.runs and time.time() - started < args.seconds:
            fixture = Fixture(VARIANT, WORKLOAD)
            agent = None
            stop, sent = threading.Event(), [0]
            storm = threading.Thread(target=sigurg_storm, args=(fixture.pid, args.storm / 1000.0, stop, sent))
            try:
                if args.mode == "agent":
                    agent = AgentProcess(["--pid", str(fixture.pid), "--max-label-values", "4096", "--profile",
                                          os.path.join(SOURCE, "configs/probes/novacron-dwcp-chunks.json")])
                    agent.wait_ready()
                    if runs == 0:  # the kernel line: per-chunk probes allowed, not refused
                        print("stress: " + next(line for line in agent.log().splitlines()
                                                if line.startswith("kernel ")), flush=True)
                fixture.go()
                runs += 1
                if args.storm:
                    storm.start()
                try:
                    fixture.wait_done(timeout=600)
                except RuntimeError as e:
                    crashes += 1
                    print("stress: CRASH in run %d: %s\nstress: trace:\n%s" % (runs, str(e)[:6000], trace_text()),
                          flush=True)
            finally:
                stop.set()
                if storm.is_alive():
                    storm.join()
                fixture.stop()
                if agent:
                    agent.stop()
            print("stress: run %d done, crashes %d, %d SIGURG, %.0f s" % (runs, crashes, sent[0],
                                                                          time.time() - started), flush=True)
    finally:
        trace_off(args)
    print("stress: RESULT kernel=%s mode=%s storm=%s crashes=%d runs=%d seconds=%.0f" %
          (os.uname().release, args.mode, args.storm, crashes, runs, time.time() - started), flush=True)
    subprocess.run("dmesg | grep -iE 'uprobe|WARNING|BUG|Oops' | tail -20", shell=True)
    return 1 if crashes else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", help="bullseye, bookworm, trixie, forky (or 'inside' in the guest)")
    parser.add_argument("--cpu", default="max", help="qemu -cpu (max,la57=off: 4-level paging)")
    parser.add_argument("--mode", choices=("agent", "tracefs"), default="agent")
    parser.add_argument("--storm", type=float, default=0, help="SIGURG to every fixture thread every MS ms")
    parser.add_argument("--seconds", type=int, default=540, help="start no run after this long")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if args.suite == "inside":
        return inside(args)
    sys.path.insert(0, HERE)
    import guest  # noqa: E402
    fixture_dir = os.environ.get("DWCP_FIXTURE_DIR", os.path.join(SOURCE, "build", "tests", "fixtures"))
    check_sites(fixture_dir)
    env = {"DWCP_OBSERVER_BIN": os.environ.get("DWCP_OBSERVER_BIN",
                                               os.path.join(SOURCE, "build", "userspace", "agent", "dwcp-observer")),
           "DWCP_FIXTURE_DIR": fixture_dir, "DWCP_SOURCE_DIR": SOURCE, "PYTHONDONTWRITEBYTECODE": "1", "CI": "true"}
    if args.mode == "agent":
        env["DWCP_OBSERVER_PER_CHUNK_PROBES"] = "allow"  # refused from 7.0 otherwise
    command = "python3 %s inside --mode %s --storm %s --seconds %d --runs %d" % (
        shlex.quote(os.path.abspath(__file__)), args.mode, args.storm, args.seconds, args.runs)
    rc, _ = guest.run(args.suite, command, timeout=args.seconds + 300, env=env, cwd=SOURCE, cpu=args.cpu)
    return 1 if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
