#!/usr/bin/env python3
"""The arm64 test: boots Debian 13's arm64 kernel (6.12) in qemu-system-aarch64 -M virt -cpu max
(TCG) on Debian 12's arm64 root file system (make_rootfs.sh), with the source tree and the cross
build shared at their own paths, and runs there, once:
  - the BPF unit tier (the arm64 BPF object, its pt_regs and R0..R8/R28 through BPF_PROG_TEST_RUN);
  - `dpkg -i` of the arm64 .deb (scripts/package-arm64.sh); every test below runs the installed
    /usr/sbin/dwcp-observer with its installed default profile;
  - with the fixtures of each Go (build_go_fixtures.sh, one directory per Go): the AMST ground
    truth attached by PID, the Go functions ground truth on the plain and stripped-PIE builds,
    discovery (no --pid) of those two builds; with DWCP_ARM64_FULL=1 (scripts/test-arm64.sh, not
    CTest's arm64_guest) also, with the first Go, the rest of test_amst (promtool is not in the
    guest) and DWCP's own state (test_dwcp_state).
The fixtures are copied into the guest's own root first (an overlay on tmpfs): the agent follows
no executable on a network file system, and the shared trees are 9p.

  arm64_guest.py BUILD_DIR DEB_DIR FIXTURE_DIR...

Exit 0 when all passed; 77 (skip) when qemu, the root file system or the kernel cannot be had,
unless CI=true, where that fails. The output names the architecture, the kernel and each Go.
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
FULL = os.environ.get("DWCP_ARM64_FULL", "") == "1"
SUITE = "trixie-arm64"
BY_PID = "test_amst.AmstGroundTruth.test_bytes_per_stream_streams_and_socket_bytes_are_exact"
GROUND_TRUTH = [BY_PID, "test_go_functions.GroundTruthOnFourBuilds",
                "test_discovery.Discovery.test_finds_two_builds_ignores_others_and_follows_a_restart"]
FIRST_GO_ONLY = ["test_amst.AmstGroundTruth.test_connections_are_charged_to_the_socket_owner_on_both_ends",
                 "test_amst.AmstGroundTruth.test_target_exit_sets_target_up_zero_and_keeps_serving",
                 "test_amst.AmstGroundTruth.test_sigterm_detaches_and_exits_zero", "test_dwcp_state"]
# 6.12 on arm64 has what 6.12 on amd64 has (docs/kernels.md, trixie).
EXPECTED = "socket_bytes=sock_length_tracepoints,probe_spec=attach_cookie,uprobe_link=uprobe_multi"
# What the ground truth runs on, and what discovery copies.
FIXTURES = ["dwcp-fixture", "dwcp-fixture-stripped-pie", "not-dwcp"]
STEP = "arm64 guest: step "
# -cpu max with an implementation-defined pointer authentication (QEMU's own hash instead of
# QARMA5, which TCG computes slowly; the kernel and Debian's arm64 code sign return addresses).
CPU = os.environ.get("DWCP_ARM64_CPU", "max,pauth-impdef=on")


def unavailable(why):
    print(("FAIL" if IN_CI else "SKIP") + ": arm64 guest: " + why, flush=True)
    return 1 if IN_CI else 77


def go_version(binary):
    """The Go that built `binary` (its build info, read by this machine's go)."""
    go = shutil.which("go") or "/usr/lib/go-1.19/bin/go"
    out = subprocess.run([go, "version", binary], capture_output=True, text=True).stdout
    return out.split(": ", 1)[-1].strip() or "unknown Go"


def guest_script(fixture_sets):
    """The shell run in the guest: each step prints `STEP name rc`, the script exits non-zero when
    any failed."""
    lines = ['echo "arm64 guest: $(uname -m) kernel $(uname -r)"', "rc=0",
             'step() { name=$1; shift; "$@"; r=$?; echo "%s$name $r"; [ $r -eq 0 ] || rc=1; }' % STEP,
             'step bpf_unit_tier "$DWCP_BPF_UNIT_BIN" --gtest_color=no',
             'step deb_install dpkg -i $DWCP_DEBS',
             'echo "arm64 guest: installed $(dpkg-query -W dwcp-observer)"']
    for i, (label, directory) in enumerate(fixture_sets):
        local = "/opt/dwcp-fixtures/%d" % i
        lines.append("mkdir -p %s && cp %s %s/" % (local, " ".join("%s/%s" % (directory, f) for f in FIXTURES), local))
        tests = GROUND_TRUTH + (FIRST_GO_ONLY if i == 0 and FULL else [])
        lines.append('step ground_truth_%s env DWCP_FIXTURE_DIR=%s python3 -m unittest -v %s'
                     % (label, local, " ".join(tests)))
    lines.append("exit $rc")
    return "\n".join(lines)


def main():
    build, debs = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    fixture_sets = [os.path.abspath(d) for d in sys.argv[3:]]
    if not shutil.which("qemu-system-aarch64"):
        return unavailable("qemu-system-aarch64 not installed (scripts/setup-arm64.sh)")
    if os.geteuid() != 0:
        return unavailable("not root")
    unit = os.path.join(build, "tests/bpf/dwcp_bpf_unit_tests")
    # The agent's package and the hook library's, where it is a package of its own.
    deb = sorted(glob.glob(os.path.join(debs, "dwcp-observer_*_arm64.deb")))
    deb += sorted(glob.glob(os.path.join(debs, "libdwcp-hooks*_arm64.deb")))
    for path in [unit] + [os.path.join(d, f) for d in fixture_sets for f in FIXTURES]:
        if not os.path.exists(path):
            return unavailable(path + " not built (tests/arm64/guest_test.sh builds everything)")
    if not deb:
        return unavailable("no arm64 .deb in " + debs + " (scripts/package-arm64.sh)")
    labelled = []
    for d in fixture_sets:
        version = go_version(os.path.join(d, "dwcp-fixture"))
        print("arm64 guest: fixtures in %s built by %s" % (d, version), flush=True)
        labelled.append((version.split()[0].replace("go", "go_", 1), d))
    started = time.time()
    if subprocess.run(["bash", os.path.join(HERE, "make_rootfs.sh")], stdout=subprocess.DEVNULL).returncode != 0:
        return unavailable("cannot build the arm64 root file system")
    fetch = subprocess.run(["bash", os.path.join(SOURCE, "tests/kernels/fetch_kernels.sh"), SUITE.split("-")[0]],
                           env=dict(os.environ, DWCP_KERNEL_ARCH="arm64"))
    if fetch.returncode != 0:
        return unavailable("cannot fetch Debian's arm64 kernel")
    fetched = time.time()
    env = {"DWCP_OBSERVER_BIN": "/usr/sbin/dwcp-observer", "DWCP_SOURCE_DIR": SOURCE, "DWCP_BPF_UNIT_BIN": unit, "DWCP_DEBS": " ".join(deb),
           "CI": "true", "PYTHONDONTWRITEBYTECODE": "1", "DWCP_EXPECT_KERNEL_FEATURES": EXPECTED,
           "DWCP_GO_VARIANTS": "dwcp-fixture,dwcp-fixture-stripped-pie",
           # Emulated arm64 runs the agent and fixtures many times slower: deadlines stretch.
           "DWCP_TEST_TIME_SCALE": os.environ.get("DWCP_TEST_TIME_SCALE", "10")}
    cwd = os.path.join(SOURCE, "tests", "integration")
    rc, output = guest.run(SUITE, guest_script(labelled), timeout=int(os.environ.get("DWCP_GUEST_TIMEOUT", "1500")),
                           env=env, cwd=cwd, cpu=CPU, shared=sorted({SOURCE, build, debs} | set(fixture_sets)))
    done = time.time()
    lines = output.splitlines()
    arch = [l for l in lines if l.startswith("arm64 guest: aarch64")]
    unit_line = [l for l in lines if "FAILED TEST" in l] or [l for l in lines if "[  PASSED  ]" in l]
    steps = [l[len(STEP):] for l in lines if l.startswith(STEP)]
    print("arm64 guest: exit %s; rootfs+kernel %.0f s, guest %.0f s (-cpu %s); %s; bpf unit tier: %s" %
          (rc, fetched - started, done - fetched, CPU, arch[0] if arch else "no kernel line",
           unit_line[0].split("]", 1)[-1].strip() if unit_line else "no result line"), flush=True)
    ran = [l for l in lines if l.startswith("Ran ") or l in ("OK",) or l.startswith("FAILED (")]
    for s in steps:
        print("arm64 guest: %s" % s, flush=True)
    print("arm64 guest: unittest: %s" % "; ".join(ran), flush=True)
    return 1 if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
