"""The Debian package as an operator uses it: built with CPack, installed with dpkg -i, and the
installed /usr/sbin/dwcp-observer run with the source and build trees out of reach (a private
mount namespace with an empty tmpfs over them) against a DWCP fixture: it must find its default
profile at the installed path, attach, and report the fixture's ground truth exactly. The -dev
package's headers and library must build and link a C program, and a Go program using the Go
binding it installs (go build, shared and static, with the tree out of reach). Both packages are removed at the
end (dpkg --purge), which also removes the system user the package made. lintian accepts all three
packages (nothing beyond the overrides they ship, each with its reason) and `man dwcp-observer`
renders the page generated from --help."""
import pwd
import os
import subprocess
import tempfile
import unittest

from shiptest import IN_CI, Agent, AgentTestCase, Fixture, parse_exposition, require_bpf, value, wait_for, wait_for_transfer

SOURCE_DIR = os.path.realpath(os.environ.get("DWCP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.path.realpath(os.environ.get("DWCP_BUILD_DIR", os.path.join(SOURCE_DIR, "build")))
PKG_DIR = os.path.join(BUILD_DIR, "pkg")
INSTALLED = "/usr/sbin/dwcp-observer"
PACKAGES = ["dwcp-observer", "libdwcp-hooks0", "dwcp-observer-dev"]
USER = "dwcp-observer"


def installed(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in out.stdout


def out_of_reach(*paths):
    """A command prefix running the rest in a mount namespace where `paths` are empty tmpfs."""
    script = 'for p in "$@"; do [ "$p" = -- ] && break; mount -t tmpfs -o size=1m,mode=0700 none "$p"; shift; done; shift; exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"] + list(paths) + ["--"]


class Package(AgentTestCase):
    @classmethod
    def setUpClass(cls):
        cls.debs = None
        if os.geteuid() != 0 or any(installed(p) for p in PACKAGES):
            return  # each test says why
        build = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "package.sh")],
                               env=dict(os.environ, PKG_BUILD_DIR=PKG_DIR), capture_output=True, text=True)
        if build.returncode != 0:
            raise RuntimeError("scripts/package.sh failed:\n" + build.stdout[-3000:] + build.stderr[-3000:])
        debs = [l for l in build.stdout.splitlines() if l.endswith(".deb")]
        install = subprocess.run(["dpkg", "-i"] + debs, capture_output=True, text=True)
        if install.returncode != 0:
            subprocess.run(["dpkg", "--purge"] + PACKAGES, capture_output=True)
            raise RuntimeError("dpkg -i failed:\n" + install.stdout + install.stderr)
        cls.debs = debs

    @classmethod
    def tearDownClass(cls):
        if cls.debs:
            subprocess.run(["dpkg", "--purge"] + PACKAGES, capture_output=True, text=True, check=True)
            assert not os.path.exists(INSTALLED), "dpkg -r left the agent behind"
            # userdel refuses a user with processes: on a shared machine other agents started
            # meanwhile may run as it (their default --user); otherwise purge must remove it.
            users_processes = subprocess.run(["pgrep", "-u", USER], capture_output=True).returncode == 0
            assert users_processes or subprocess.run(["getent", "passwd", USER]).returncode == 2, \
                "purge left the user behind"

    def setUp(self):
        super().setUp()
        require_bpf(self)
        if any(installed(p) for p in PACKAGES) and not self.debs:
            self.fail("dwcp-observer is already installed on this machine: remove it (dpkg -r %s) so the "
                      "test can install and remove its own build" % " ".join(PACKAGES))

    def test_layout_and_metadata(self):
        files = subprocess.run(["dpkg", "-L", "dwcp-observer"], capture_output=True, text=True).stdout.split()
        for path in (INSTALLED, "/usr/share/dwcp-observer/probes/novacron-dwcp.json",
                     "/usr/share/dwcp-observer/probes/novacron-dwcp-chunks.json",  # the debug profile the docs offer
                     "/usr/share/doc/dwcp-observer/copyright", "/usr/share/doc/dwcp-observer/changelog.gz",
                     "/usr/share/man/man8/dwcp-observer.8.gz",
                     "/usr/lib/systemd/system/dwcp-observer.service", "/etc/default/dwcp-observer",
                     "/usr/share/dwcp-observer/prometheus/dwcp-alerts.yml",
                     "/usr/share/dwcp-observer/dashboards/dwcp-observer.json",
                     "/usr/share/dwcp-observer/deploy/kubernetes/kustomization.yaml",
                     "/usr/share/doc/dwcp-observer/deployment.md", "/usr/lib/dwcp-observer/libssl.so"):
            self.assertIn(path, files)
        status = subprocess.run(["dpkg", "-s", "dwcp-observer"], capture_output=True, text=True).stdout
        for dependency in ("libbpf1", "libprometheus-cpp-core1.0", "libssl3", "libcrypt1"):
            self.assertIn(dependency, status)  # from dpkg-shlibdeps, not written by hand
        self.assertIn("/etc/default/dwcp-observer", status)  # Conffiles
        with open("/usr/lib/systemd/system/dwcp-observer.service") as f:
            unit = f.read()
        self.assertIn("ExecStart=" + INSTALLED + " ", unit)

    def test_lintian_accepts_the_packages(self):
        if subprocess.run(["sh", "-c", "command -v lintian"], capture_output=True).returncode != 0:
            self.fail("lintian is not installed (scripts/setup.sh installs it)")
        run = subprocess.run(["lintian", "--fail-on", "none"] + self.debs, capture_output=True, text=True)
        findings = [l for l in run.stdout.splitlines() if l[:2] in ("E:", "W:")]
        self.assertEqual(findings, [], run.stdout)
        self.assertNotIn("@localhost", subprocess.run(["dpkg", "-s", "dwcp-observer"], capture_output=True, text=True).stdout)

    def test_man_page_renders(self):
        page = subprocess.run(["man", "-P", "cat", "8", "dwcp-observer"], capture_output=True, text=True,
                              env=dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8"))
        self.assertEqual(page.returncode, 0, page.stderr)
        for text in ("dwcp-observer", "--web.listen-address", "EXIT STATUS", "novacron-dwcp-chunks.json"):
            self.assertIn(text, page.stdout)
        self.assertNotIn(SOURCE_DIR, page.stdout)  # the usage line names the program, not the build path

    def test_system_user(self):
        entry = pwd.getpwnam(USER)  # made by postinst (adduser --system)
        self.assertLess(entry.pw_uid, 1000)
        self.assertIn(entry.pw_shell, ("/usr/sbin/nologin", "/bin/false"))
        self.assertFalse(os.path.exists(entry.pw_dir), entry.pw_dir)

    def test_image_rootfs_runs_the_agent_alone(self):
        """The container image's content (packaging/image-rootfs.sh, stage 2 of the Containerfile:
        no podman here) is complete: the agent runs chrooted into it, and it is small."""
        with tempfile.TemporaryDirectory() as root:
            build = subprocess.run(["sh", os.path.join(SOURCE_DIR, "packaging", "image-rootfs.sh"), root],
                                   capture_output=True, text=True)
            self.assertEqual(build.returncode, 0, build.stderr)
            run = subprocess.run(["chroot", root, INSTALLED, "--help"], capture_output=True, text=True)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("/usr/share/dwcp-observer/probes/novacron-dwcp.json", run.stdout)
            for profile in ("novacron-dwcp.json", "novacron-dwcp-chunks.json"):
                self.assertTrue(os.path.exists(os.path.join(root, "usr/share/dwcp-observer/probes", profile)))
            with open(os.path.join(root, "etc/passwd")) as f:
                self.assertIn("dwcp-observer:x:9476:9476:", f.read())
            self.assertFalse(os.path.exists(os.path.join(root, "bin/sh")))  # no shell
            size = int(subprocess.run(["du", "-sk", root], capture_output=True, text=True).stdout.split()[0])
            print("image rootfs: %.1f MiB" % (size / 1024))
            self.assertLess(size, 40 * 1024)  # the Debian-based image was 315 MB

    def test_dev_package_builds_a_hooked_program(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "hooked.c")
            with open(source, "w") as f:
                f.write('#include <dwcp_observer/hooks_c.h>\nint main(void) { return 0; }\n')
            binary = os.path.join(tmp, "hooked")
            cc = subprocess.run(["cc", source, "-o", binary, "-ldwcp_hooks"],
                                capture_output=True, text=True)
            self.assertEqual(cc.returncode, 0, cc.stderr)
            self.assertEqual(subprocess.run([binary]).returncode, 0)

    def test_dev_package_builds_a_go_program_with_the_binding(self):
        go_bin = "/usr/lib/go-1.19/bin/go"  # Debian 12's Go, installed by scripts/setup.sh
        if not os.path.exists(go_bin):
            self.fail("golang-1.19-go is not installed (scripts/setup.sh installs it)")
        module = "github.com/dwcp-observer/dwcp-observer/bindings/go/dwcpmetrics"
        hidden = [SOURCE_DIR] + ([BUILD_DIR] if not BUILD_DIR.startswith(SOURCE_DIR + "/") else [])
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "go.mod"), "w") as f:
                f.write("module example.com/hooked\n\ngo 1.19\n\nrequire %s v0.0.0\n\nreplace %s => /usr/share/gocode/src/%s\n"
                        % (module, module, module))
            with open(os.path.join(tmp, "main.go"), "w") as f:
                f.write('package main\n\nimport (\n\t"fmt"\n\n\tmetrics "%s"\n)\n\n'
                        'func main() {\n\tif err := metrics.InitializeMetrics("pkg", "n1", -1); err != nil {\n'
                        '\t\tpanic(err)\n\t}\n\tmetrics.NewAMSTMetricsWrapper().OnStreamData("3", 72, 0)\n'
                        '\tfmt.Print(metrics.MetricsText())\n}\n' % module)
            # The Go tests' cache when there is one (reruns compile nothing); it holds no source.
            go_cache = "/var/cache/dwcp-observer/go"
            gocache = os.path.join(go_cache, "gocache-1.19") if os.access(go_cache, os.W_OK) else os.path.join(tmp, "gocache")
            env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOSUMDB="off", GOTOOLCHAIN="local",
                       CGO_ENABLED="1", GOCACHE=gocache, GOPATH=os.path.join(tmp, "gopath"))
            env.pop("PKG_CONFIG_PATH", None)
            env.pop("LD_LIBRARY_PATH", None)
            for tags in ([], ["-tags", "dwcp_static"]):
                binary = os.path.join(tmp, "hooked" + ("-static" if tags else ""))
                build = subprocess.run(out_of_reach(*hidden) + [go_bin, "build"] + tags + ["-o", binary, "."],
                                       cwd=tmp, env=env, capture_output=True, text=True)
                self.assertEqual(build.returncode, 0, build.stderr)
                run = subprocess.run(out_of_reach(*hidden) + [binary], env=env, capture_output=True, text=True)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertIn('dwcp_amst_bytes_sent_total{cluster="pkg",node="n1",stream_id="3"} 72', run.stdout)
                ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
                self.assertEqual("libdwcp_hooks.so" in ldd, not tags, ldd)

    def test_installed_agent_with_the_tree_out_of_reach_reports_exactly(self):
        hidden = [SOURCE_DIR] + ([BUILD_DIR] if not BUILD_DIR.startswith(SOURCE_DIR + "/") else [])
        check = subprocess.run(out_of_reach(*hidden) + ["ls", "-A", SOURCE_DIR], capture_output=True, text=True)
        self.assertEqual((check.returncode, check.stdout), (0, ""), "the tree is still visible: " + check.stderr)
        fixture = self.track(Fixture("dwcp-fixture", ["--streams", "3", "--transfers", "6",
                                                      "--transfer-size", str(2 * 65536 + 77)]))
        agent = self.track(Agent(["--pid", str(fixture.pid), "--cluster", "pkg", "--node", "n1",
                                  "--web.listen-address", "127.0.0.1:0", "--log.format", "json"],
                                 binary=INSTALLED, prefix=out_of_reach(*hidden)))
        # The profile came from /usr/share (the tree's copy is hidden); the fixture's own path is in
        # the build tree, which is fine: the agent reads the target through /proc/PID.
        self.assertNotIn(os.path.join(SOURCE_DIR, "configs"), agent.log())
        self.assertRegex(agent.log(), r"attached \d+ uprobes to process %d" % fixture.pid)
        # Started as systemd would (no systemctl here): root, then the packaged user after attach.
        packaged = {str(pwd.getpwnam(USER).pw_uid)}

        def uids():
            with open("/proc/%d/status" % agent.proc.pid) as f:
                return set([l.split()[1:] for l in f if l.startswith("Uid:")][0])
        self.assertEqual(wait_for(lambda: uids() == packaged) and uids(), packaged)
        fixture.go()
        truth = fixture.wait_done()
        pid = str(fixture.pid)
        s = wait_for_transfer(lambda: parse_exposition(agent.get("/metrics")[2]), truth, pid)
        for stream_id, sent in truth["bytes_sent_per_stream"].items():
            self.assertEqual(value(s, "dwcp_amst_bytes_sent_total", stream_id=stream_id, cluster="pkg"), sent)
        for stream_id, received in truth["bytes_received_per_stream"].items():
            self.assertEqual(value(s, "dwcp_amst_bytes_received_total", stream_id=stream_id), received)
        self.assertEqual(value(s, "dwcp_amst_streams_total", result="success"), truth["streams_opened"])
        self.assertEqual(value(s, "dwcp_amst_latency_seconds_count", operation="send"), truth["sends"])
        self.assertEqual(value(s, "dwcp_observer_tcp_bytes_received_total", pid=pid), truth["socket_bytes_read"])
        self.assertEqual(value(s, "dwcp_observer_target_up", pid=pid), 1)
        self.assertIn("attached", agent.log())


if __name__ == "__main__":
    unittest.main()
