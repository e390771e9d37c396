#!/usr/bin/env python3
"""Checks the seccomp allow-lists (userspace/agent/syscall_filter.cpp) against what the agent's
processes really call: reads `strace -f` logs of agent runs and prints, per process role (agent,
HTTP process, read helper), every call made after the role's own filter was loaded, with counts,
the list's names never seen, and the calls outside the list (exit 1 if there are any).

How the lists were built (docs/security.md, "System calls"): run integration suites with the agent
under strace, e.g.

  printf '#!/bin/sh\\nexec strace -f -qq -s 24 -o /tmp/sc/trace.$$ %s "$@"\\n' \\
      "$PWD/build/userspace/agent/dwcp-observer" > /tmp/sc/agent.sh && chmod +x /tmp/sc/agent.sh
  cd tests/integration && DWCP_OBSERVER_BIN=/tmp/sc/agent.sh DWCP_FIXTURE_DIR=../../build/tests/fixtures \\
      python3 -m unittest test_discovery test_lifecycle ...
  python3 scripts/seccomp-audit.py /tmp/sc/trace.*

(Tests that compare pids or time fail under strace; the calls are what counts here.) A role's
process is known by its start: the first process of a log is the agent, a fork of it that execs
`__http-child` the HTTP process, any other fork of it the read helper; threads belong to their
process."""
import collections
import os
import re
import sys

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "userspace", "agent", "syscall_filter.cpp")
LINE = re.compile(r"^(\d+) (?:<\.\.\. (\w+) resumed>|(\w+)\()")
# x86-64's uretprobe (335; strace 6.1 prints it by number): the return trampoline of a uretprobe that
# something on the machine put on code the process runs (libc, say). The kernel lets it through every
# seccomp filter (since 6.14 and in the stable kernels before it), so no list needs it.
KERNEL_TRAMPOLINES = {"syscall_0x14f", "uretprobe"}
CLONES = ("clone", "clone3", "vfork", "fork")


def allow_lists():
    src = open(SOURCE).read()
    names = lambda text: set(re.findall(r'"([a-z0-9_]+)"', text))
    runtime = names(re.search(r"#define DWCP_RUNTIME_CALLS(.*?)\n\n", src, re.S).group(1))
    lists = {}
    for role, var in (("agent", "kAgent"), ("http", "kHttp"), ("helper", "kReadHelper")):
        body = re.search(r"const std::vector<const char\*> %s = \{(.*?)\};" % var, src, re.S).group(1)
        lists[role] = names(body) | (runtime if "DWCP_RUNTIME_CALLS" in body else set())
    return lists


def audit(path, lists, seen, examples):
    lines = open(path, errors="replace").read().splitlines()
    parent, pending = {}, {}
    for line in lines:  # first pass: who cloned whom (a child often logs before its parent's return)
        m = LINE.match(line)
        if m and (m.group(2) or m.group(3)) in CLONES:
            tid = int(m.group(1))
            if m.group(3):
                pending[tid] = line
            done = re.search(r"= (\d+)\s*$", line)
            if done:
                parent[int(done.group(1))] = (tid, "CLONE_THREAD" in pending.pop(tid, "") + line)
    procs, root = {}, None

    def proc_of(tid):
        if tid not in procs and tid in parent:
            ptid, thread = parent[tid]
            p = proc_of(ptid)
            if p is not None:
                procs[tid] = p if thread else {"role": "helper" if p["role"] == "agent" else p["role"], "filtered": False}
        return procs.get(tid)

    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        tid, name = int(m.group(1)), m.group(2) or m.group(3)
        if root is None:
            root = tid
            procs[tid] = {"role": "agent", "filtered": False}
        p = proc_of(tid)
        if p is None:
            continue
        if name == "execve" and "__http-child" in line:
            http = {"role": "http", "filtered": False}
            for k, v in list(procs.items()):
                if v is p:
                    procs[k] = http
            continue
        loaded = re.search(r"= 0\s*$", line) or "<unfinished" in line
        if loaded and ((name == "seccomp" and "SECCOMP_SET_MODE_FILTER" in line and "{len=" in line) or
                       (name == "prctl" and "PR_SET_SECCOMP" in line)):
            p["filtered"] = True
            continue
        if m.group(3) and p["filtered"] and name not in KERNEL_TRAMPOLINES:
            seen[p["role"]][name] += 1
            if name not in lists[p["role"]]:
                examples.setdefault((p["role"], name), line[:160])


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lists = allow_lists()
    seen = {role: collections.Counter() for role in lists}
    examples = {}
    for path in sys.argv[1:]:
        audit(path, lists, seen, examples)
    for role in lists:
        print("%s: %d distinct calls after its filter: %s" %
              (role, len(seen[role]), " ".join("%s:%d" % kv for kv in sorted(seen[role].items()))))
        print("  in the list, not seen: %s" % " ".join(sorted(lists[role] - set(seen[role]))))
    for (role, name), line in sorted(examples.items()):
        print("OUTSIDE %s's list: %s   e.g. %s" % (role, name, line))
    return 1 if examples else 0


if __name__ == "__main__":
    sys.exit(main())
