#!/usr/bin/env python3
"""The arm64 test: boots Debian 12's arm64 kernel in qemu-system-aarch64 -M virt -cpu max (TCG) on
Debian's arm64 root file system (make_rootfs.sh), with the cross build (scripts/build-arm64.sh)
and the source tree shared at their own paths, and runs there, once:
  - the BPF unit tier (the arm64 BPF object, its pt_regs and R0..R8/R28 through BPF_PROG_TEST_RUN);
  - the AMST ground truth attached by PID and the Go functions ground truth on the plain,
    stripped, PIE and stripped-PIE arm64 fixtures (Go 1.19);
  - discovery (no --pid) of two arm64 builds, with their exact figures;
  - the arm64 .deb (scripts/package-arm64.sh) installed with dpkg, and the AMST ground truth
    again with the installed binary and its installed default profile.

  arm64_guest.py BUILD_DIR DEB_DIR

Exit 0 when all passed; 77 (skip) when qemu, the root file system or the kernel cannot be had,
unless CI=true, where that fails. The output names the architecture and kernel.
"""
import glob
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "kernels"))
import guest  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SUITE = "bookworm-arm64"
BY_PID = "test_amst.AmstGroundTruth.test_bytes_per_stream_streams_and_socket_bytes_are_exact"
TESTS = [BY_PID, "test_go_functions.GroundTruthOnFourBuilds",
         "test_discovery.Discovery.test_finds_two_builds_ignores_others_and_follows_a_restart"]
EXPECTED = "socket_bytes=fexit_tcp_sendmsg_recvmsg,probe_spec=attach_cookie,uprobe_link=classic"


def unavailable(why):
    print(("FAIL" if IN_CI else "SKIP") + ": arm64 guest: " + why, flush=True)
    return 1 if IN_CI else 77


def main():
    build, debs = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("qemu-system-aarch64"):
        return unavailable("qemu-system-aarch64 not installed (scripts/setup-arm64.sh)")
    if os.geteuid() != 0:
        return unavailable("not root")
    agent = os.path.join(build, "userspace/agent/dwcp-observer")
    unit = os.path.join(build, "tests/bpf/dwcp_bpf_unit_tests")
    fixtures = os.path.join(build, "tests/fixtures")
    deb = sorted(glob.glob(os.path.join(debs, "dwcp-observer_*_arm64.deb")))
    for path in (agent, unit, os.path.join(fixtures, "dwcp-fixture")):
        if not os.path.exists(path):
            return unavailable(path + " not built (scripts/build-arm64.sh)")
    if not deb:
        return unavailable("no arm64 .deb in " + debs + " (scripts/package-arm64.sh)")
    started = time.time()
    if subprocess.run(["bash", os.path.join(HERE, "make_rootfs.sh")], stdout=subprocess.DEVNULL).returncode != 0:
        return unavailable("cannot build the arm64 root file system")
    fetch = subprocess.run(["bash", os.path.join(SOURCE, "tests/kernels/fetch_kernels.sh"), "bookworm"],
                           env=dict(os.environ, DWCP_KERNEL_ARCH="arm64"))
    if fetch.returncode != 0:
        return unavailable("cannot fetch Debian's arm64 kernel")
    fetched = time.time()
    env = {"DWCP_OBSERVER_BIN": agent, "DWCP_FIXTURE_DIR": fixtures, "DWCP_SOURCE_DIR": SOURCE,
           "DWCP_BPF_UNIT_BIN": unit, "DWCP_DEB": deb[0], "CI": "true", "PYTHONDONTWRITEBYTECODE": "1",
           "DWCP_EXPECT_KERNEL_FEATURES": EXPECTED}
    command = ('echo "arm64 guest: $(uname -m) kernel $(uname -r)"; rc=0; '
               '"$DWCP_BPF_UNIT_BIN" --gtest_color=no || rc=1; '
               'python3 -m unittest -v %s || rc=1; '
               'dpkg -i "$DWCP_DEB" && echo "arm64 guest: installed $(dpkg-query -W dwcp-observer)" || rc=1; '
               'DWCP_OBSERVER_BIN=/usr/sbin/dwcp-observer python3 -m unittest -v %s || rc=1; exit $rc'
               % (" ".join(TESTS), BY_PID))
    cwd = os.path.join(SOURCE, "tests", "integration")
    rc, output = guest.run(SUITE, command, timeout=int(os.environ.get("DWCP_GUEST_TIMEOUT", "1500")), env=env,
                           cwd=cwd, shared=sorted({SOURCE, build, debs}))
    done = time.time()
    unit_line = ([l for l in output.splitlines() if "FAILED TEST" in l] or
                 [l for l in output.splitlines() if "[  PASSED  ]" in l])
    arch = [l for l in output.splitlines() if "arm64 guest: aarch64" in l]
    print("arm64 guest: exit %s; rootfs+kernel %.0f s, guest %.0f s; %s; bpf unit tier: %s" %
          (rc, fetched - started, done - fetched, arch[0].split("] ", 1)[-1] if arch else "no kernel line",
           unit_line[0].split("]", 1)[-1].strip() if unit_line else "no result line"), flush=True)
    return 1 if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
