#!/usr/bin/env python3
"""Stress for the guests' soft lockups at a stop (docs/kernels.md, "5.10 and 6.1: soft lockups"): in
a guest, the agent is started with --pid on an idle fixture, waited for until it serves, stopped with
SIGTERM and waited for, STOPS times; each stop detaches its tracepoint links, rewriting kernel text.
Prints each cycle; a livelocked guest shows soft lockups on the console until the timeout.
Not part of ctest (the kernel matrix runs ten stops on 6.1): an investigation tool.

  sudo python3 tests/kernels/stop_stress.py bookworm [--agent A] [--fixture F] [--stops 40]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")


def in_guest(agent, fixture, stops):
    fx = subprocess.Popen([fixture, "--wait-signal"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        for i in range(stops):
            with tempfile.TemporaryFile() as log:
                started = time.time()
                a = subprocess.Popen([agent, "--pid", str(fx.pid), "--listen", "127.0.0.1:0", "--probe-budget", "0"],
                                     stdout=subprocess.DEVNULL, stderr=log)
                while time.time() < started + 60:
                    log.seek(0)
                    if b"serving http" in log.read():
                        break
                    time.sleep(0.05)
                serving = time.time()
                a.send_signal(signal.SIGTERM)
                try:
                    rc = a.wait(60)
                except subprocess.TimeoutExpired:
                    print("stop %d: the agent did not exit within 60 s" % i, flush=True)
                    return 1
                print("stop %d: serving after %.2f s, exit %d after %.2f s"
                      % (i, serving - started, rc, time.time() - serving), flush=True)
    finally:
        fx.kill()
        fx.wait()
    print("stop stress: %d stops done" % stops, flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", help="the guest's kernel (bullseye, bookworm, ...)")
    parser.add_argument("--agent", default=os.path.join(BUILD, "userspace", "agent", "dwcp-observer"))
    parser.add_argument("--fixture", default=os.path.join(BUILD, "tests", "fixtures", "dwcp-fixture"))
    parser.add_argument("--stops", type=int, default=40)
    parser.add_argument("--timeout", type=int, default=600, help="the guest's, in seconds")
    parser.add_argument("--in-guest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    agent, fixture = os.path.realpath(args.agent), os.path.realpath(args.fixture)
    if args.in_guest:
        return in_guest(agent, fixture, args.stops)
    if not args.suite:
        parser.error("a suite is needed")
    sys.path.insert(0, HERE)
    import guest
    command = "python3 %s --in-guest --agent %s --fixture %s --stops %d" % (
        os.path.abspath(__file__), agent, fixture, args.stops)
    rc, _ = guest.run(args.suite, command, timeout=args.timeout)
    return 1 if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
