#!/usr/bin/env python3
"""The image for both architectures, checked without podman (there is none here):
scripts/build-image.sh is run with packages given (DEBS) and with a podman and a debootstrap on
PATH that only record how they were called. It must build one image per architecture from a
context holding that architecture's package under the name packaging/Containerfile derives from
TARGETARCH, with the matching --platform and base, and join both into one manifest list; a
package of the wrong architecture is refused. With DWCP_ARM64_DEB (the arm64 suite passes the
real one) the arm64 context's agent must be an AArch64 executable.

  test_image_arches.py        (CTest: image_arches)
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(SOURCE, "scripts", "build-image.sh")
RECORDER = """#!/bin/sh
# Records its arguments (and, for a build, the context's file names) one call a line.
{ printf '%%s' "$(basename "$0")"; for a in "$@"; do printf ' %%s' "$a"; done
  for context in "$@"; do :; done  # a build's context is its last argument
  [ "$1" = build ] && printf ' CONTEXT=%%s' "$(ls "$context" | tr '\\n' ,)"
  echo; } >> %(log)s
case "$1 $2" in
  "image exists"|"manifest exists") exit 1 ;;  # nothing built yet
esac
[ "$(basename "$0")" = debootstrap ] && mkdir -p "$4/etc/apt"
[ "$1" = import ] && cat > /dev/null  # the base's tar stream: read it all, as podman would
exit 0
"""


def read(path):
    with open(path) as f:
        return f.read()


def make_deb(directory, arch):
    root = os.path.join(directory, "pkg-" + arch)
    os.makedirs(os.path.join(root, "DEBIAN"))
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write("Package: dwcp-observer\nVersion: 0.1.0\nArchitecture: %s\nMaintainer: t <t@t>\n"
                "Description: test\n" % arch)
    deb = os.path.join(directory, "dwcp-observer_0.1.0_%s.deb" % arch)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", root, deb], check=True, capture_output=True)
    return deb


class ImageForBothArchitectures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dwcp-image-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        self.log = os.path.join(self.tmp, "calls.log")
        for tool in ("podman", "debootstrap"):
            path = os.path.join(self.bin, tool)
            with open(path, "w") as f:
                f.write(RECORDER % {"log": self.log})
            os.chmod(path, 0o755)
        self.debs = {arch: make_deb(self.tmp, arch) for arch in ("amd64", "arm64")}

    def run_script(self, debs, **env):
        given = " ".join("%s=%s" % kv for kv in debs.items())
        return subprocess.run(["bash", SCRIPT], capture_output=True, text=True,
                              env=dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"], DEBS=given, **env))

    def test_one_image_per_architecture_joined_in_one_manifest(self):
        run = self.run_script(self.debs)
        self.assertEqual(run.returncode, 0, run.stderr)
        calls = read(self.log).splitlines()
        version = re.search(r"project\(dwcp-observer VERSION ([0-9.]+)",
                            read(os.path.join(SOURCE, "CMakeLists.txt"))).group(1)
        image = "localhost/dwcp-observer:" + version
        self.assertEqual(run.stdout.strip().splitlines()[-1], image)
        self.assertIn("podman manifest create " + image, calls)
        # What the Containerfile copies for a TARGETARCH (its ARG DEB default).
        containerfile = read(os.path.join(SOURCE, "packaging", "Containerfile"))
        deb_name = re.search(r"^ARG DEB=(\S+)$", containerfile, re.M).group(1)
        self.assertIn("${TARGETARCH}", deb_name)
        for arch in ("amd64", "arm64"):
            builds = [c for c in calls if c.startswith("podman build") and "--platform linux/%s " % arch in c]
            self.assertEqual(len(builds), 1, calls)
            self.assertIn("--build-arg TARGETARCH=%s " % arch, builds[0])
            self.assertIn("--build-arg BASE=localhost/debian-bookworm-base:%s " % arch, builds[0])
            self.assertIn("-t %s-%s " % (image, arch), builds[0])
            context = builds[0].split("CONTEXT=", 1)[1].split(",")
            self.assertIn(deb_name.replace("${TARGETARCH}", arch), context)
            self.assertIn("Containerfile", context)
            self.assertTrue(any(c.startswith("debootstrap --arch=%s " % arch) for c in calls), calls)
            self.assertIn("podman manifest add %s containers-storage:%s-%s" % (image, image, arch), calls)
        # The manifest is assembled after both images exist.
        self.assertGreater(max(i for i, c in enumerate(calls) if c.startswith("podman manifest add")),
                           max(i for i, c in enumerate(calls) if c.startswith("podman build")))

    def test_a_package_of_another_architecture_is_refused(self):
        run = self.run_script({"amd64": self.debs["amd64"], "arm64": self.debs["amd64"]})
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("is not arm64", run.stderr)

    def test_the_real_arm64_package_holds_an_aarch64_agent(self):
        deb = os.environ.get("DWCP_ARM64_DEB")
        if not deb:
            self.skipTest("DWCP_ARM64_DEB not set (scripts/test-arm64.sh sets it)")
        out = os.path.join(self.tmp, "ctx")
        run = self.run_script({"arm64": deb}, ARCHES="arm64", CONTEXT_ONLY=out)
        self.assertEqual(run.returncode, 0, run.stderr)
        unpacked = os.path.join(self.tmp, "unpacked")
        subprocess.run(["dpkg-deb", "-x", os.path.join(out, "arm64", "dwcp-observer-arm64.deb"), unpacked], check=True)
        header = subprocess.run(["readelf", "-h", os.path.join(unpacked, "usr/sbin/dwcp-observer")],
                                capture_output=True, text=True, check=True).stdout
        self.assertRegex(header, r"Machine:\s+AArch64")


if __name__ == "__main__":
    unittest.main()
