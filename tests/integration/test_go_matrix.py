"""Issue 11: the resolver on every Go that Debian ships. For one Go version (DWCP_GO_VERSION),
fetch that toolchain (scripts/fetch-go.sh: Debian's golang-X-go/-src, unpacked into a cache,
never installed), build the DWCP fixture with it in the four variants (plain, stripped, PIE,
stripped PIE with -trimpath) and require the agent's figures to equal the fixture's ground truth
exactly on each. CTest runs this once per version (go_matrix_1.XX), so a failure names the Go.

Without the toolchain (no archive reachable) the test fails under CI=true and is skipped (exit
77) otherwise."""
import os
import subprocess
import sys
import unittest

from harness import IN_CI, SOURCE_DIR, value
from test_go_functions import PROBES, GoFunctionsTestCase

GO_VERSION = os.environ.get("DWCP_GO_VERSION", "")
GO_CACHE = os.environ.get("DWCP_GO_CACHE", "/var/cache/dwcp-observer/go")
OUT_DIR = os.environ.get("DWCP_GO_MATRIX_DIR", "")
FIXTURE_SRC = os.path.join(SOURCE_DIR, "tests", "fixtures", "dwcp")
VARIANTS = {
    "dwcp-fixture": [],
    "dwcp-fixture-stripped": ["-ldflags=-s -w"],
    "dwcp-fixture-pie": ["-buildmode=pie"],
    "dwcp-fixture-stripped-pie": ["-buildmode=pie", "-ldflags=-s -w", "-trimpath"],
}
# Compact, but every probed function with both outcomes, several goroutines and streams.
WORKLOAD = ["--workload", "all", "--transfers", "4", "--goroutines", "3", "--streams", "2",
            "--chunk-size", "10000", "--transfer-size", "30000", "--fail-every", "3"]

_setup_error = None
_binaries = {}


def setUpModule():
    global _setup_error
    if not GO_VERSION or not OUT_DIR:
        _setup_error = "DWCP_GO_VERSION and DWCP_GO_MATRIX_DIR must be set (ctest sets them)"
        return
    fetch = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "fetch-go.sh"), GO_VERSION],
                           capture_output=True, text=True, env=dict(os.environ, DWCP_GO_CACHE=GO_CACHE))
    if fetch.returncode != 0:
        _setup_error = "cannot fetch Go %s from Debian's archive: %s" % (GO_VERSION, fetch.stderr[-2000:])
        return
    goroot = fetch.stdout.split()[1]
    out = os.path.join(OUT_DIR, GO_VERSION)
    os.makedirs(out, exist_ok=True)
    # Offline and hermetic; one GOCACHE per version in the cache, so reruns build nothing.
    env = dict(os.environ, GOROOT=goroot, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off",
               GOSUMDB="off", CGO_ENABLED="0", GOOS="linux", GOARCH="amd64",
               GOCACHE=os.path.join(GO_CACHE, "gocache-" + GO_VERSION),
               GOPATH=os.path.join(GO_CACHE, "gopath-" + GO_VERSION))
    for name, flags in VARIANTS.items():
        path = os.path.join(out, name)
        build = subprocess.run([os.path.join(goroot, "bin", "go"), "build", "-buildvcs=false"] + flags +
                               ["-o", path, "./cmd/dwcp-fixture"],
                               cwd=FIXTURE_SRC, env=env, capture_output=True, text=True)
        if build.returncode != 0:
            raise RuntimeError("go %s build %s failed:\n%s" % (GO_VERSION, name, build.stderr))
        _binaries[name] = path
    # Which toolchain really built them (not the system's Go through some PATH accident).
    version = subprocess.run([os.path.join(goroot, "bin", "go"), "version"] + list(_binaries.values()),
                             env=env, capture_output=True, text=True, check=True).stdout
    for name, path in _binaries.items():
        line = next(l for l in version.splitlines() if l.startswith(path + ":"))
        if not line.split(": ", 1)[1].startswith("go" + GO_VERSION):
            raise RuntimeError("%s was not built by Go %s: %s" % (name, GO_VERSION, line))
    print("Go %s: %s" % (GO_VERSION, version.strip().replace("\n", "; ")), file=sys.stderr)


class GoMatrixResolver(unittest.TestCase):
    def test_every_function_of_the_stripped_builds_matches_the_symtab(self):
        # Not just the 18 DWCP functions: every function the pclntab of the stripped builds
        # lists (runtime included) resolves to the address the plain builds' symtab gives
        # (tests/goelf: MatrixBuild.*). No BPF needed.
        if _setup_error:
            if IN_CI:
                self.fail(_setup_error)
            self.skipTest(_setup_error)
        goelf_tests = os.environ.get("DWCP_GOELF_TESTS", "")
        if not os.path.exists(goelf_tests):
            self.fail("DWCP_GOELF_TESTS (the dwcp_goelf_tests binary) not found: %r" % goelf_tests)
        run = subprocess.run([goelf_tests, "--gtest_filter=MatrixBuild.*"], capture_output=True, text=True,
                             env=dict(os.environ, GOELF_MATRIX_DIR=os.path.join(OUT_DIR, GO_VERSION)))
        self.assertEqual(run.returncode, 0, run.stdout[-4000:])
        self.assertIn("[  PASSED  ] 1 test", run.stdout)
        self.assertNotIn("SKIPPED", run.stdout)
        print("\n".join(l for l in run.stdout.splitlines() if "functions match" in l), file=sys.stderr)


class GoMatrix(GoFunctionsTestCase):
    def setUp(self):
        if _setup_error:
            if IN_CI:
                self.fail(_setup_error)
            self.skipTest(_setup_error)
        super().setUp()

    def test_ground_truth_on_the_four_builds(self):
        for name, path in _binaries.items():
            with self.subTest(go=GO_VERSION, variant=name):
                truth, s, agent = self.observe(path, WORKLOAD)
                try:
                    for key in ("compress_memory_errors", "encode_errors", "decode_errors", "encode_delta_hits"):
                        self.assertGreater(truth["hde"][key], 0, "fixture did not exercise " + key)
                    self.assertMatchesTruth(truth, s)
                    self.assertNoEventLost(s, truth)
                    # Every probe placed: none absent or refused on any toolchain's build.
                    log = agent.log()
                    self.assertNotIn("probes refused", log)
                    self.assertNotIn("probes absent", log)
                    self.assertEqual(value(s, "dwcp_observer_probe_state", state="attached"), PROBES, log)
                    self.assertEqual(value(s, "dwcp_system_config_enabled"), 5, "all five features live")
                finally:
                    for proc in reversed(self._cleanups_procs):
                        proc.stop()
                    self._cleanups_procs.clear()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if result.skipped and result.testsRun == len(result.skipped) else 0)
