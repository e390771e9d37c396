"""Every shell block of docs/quickstart.md and docs/deployment.md is marked, right above it, with
one of
    <!-- docs-test: run -->                        run here, each line, from the source tree
    <!-- docs-test: covered by PATH ... -->       a test of the repository runs the same steps
    <!-- docs-test: not run here: REASON -->     with the reason
and the `run` blocks pass (`build/` is the build directory of this run)."""
import os
import re
import subprocess
import unittest

SOURCE_DIR = os.path.realpath(os.environ.get("DWCP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.path.realpath(os.environ.get("DWCP_BUILD_DIR", os.path.join(SOURCE_DIR, "build")))
DOCS = ["docs/quickstart.md", "docs/deployment.md"]
BLOCK = re.compile(r"((?:^[^\n]*\n){0,1})^```(?:sh|bash|console)\n(.*?)^```", re.M | re.S)


def blocks(path):
    """(marker or None, commands) of each shell block."""
    with open(os.path.join(SOURCE_DIR, path)) as f:
        text = f.read()
    out = []
    for m in BLOCK.finditer(text):
        before = m.group(1).strip()
        marker = re.fullmatch(r"<!-- docs-test: (.*?) -->", before)
        out.append((marker.group(1) if marker else None, m.group(2)))
    return out


class DocsCommands(unittest.TestCase):
    def test_every_block_is_marked_with_a_reason_or_a_test(self):
        for path in DOCS:
            found = blocks(path)
            self.assertGreater(len(found), 0, path)
            for marker, body in found:
                self.assertIsNotNone(marker, "%s: unmarked shell block:\n%s" % (path, body))
                if marker.startswith("covered by "):
                    test = marker.split()[2]
                    self.assertTrue(os.path.exists(os.path.join(SOURCE_DIR, test)), "%s: %s does not exist" % (path, test))
                elif marker.startswith("not run here: "):
                    self.assertGreater(len(marker) - len("not run here: "), 10, "%s: give the reason" % path)
                else:
                    self.assertEqual(marker, "run", "%s: unknown marker %r" % (path, marker))

    def test_run_blocks_pass(self):
        ran = 0
        for path in DOCS:
            for marker, body in blocks(path):
                if marker != "run":
                    continue
                script = body.replace("build/", BUILD_DIR + "/")
                result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=SOURCE_DIR,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual(result.returncode, 0, "%s:\n%s\n%s%s" % (path, body, result.stdout, result.stderr))
                ran += 1
        self.assertGreater(ran, 0)


if __name__ == "__main__":
    unittest.main()
