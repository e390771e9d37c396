#!/usr/bin/env python3
"""Runs one Python test module for CTest so that a skip is seen as a skip.

`python3 -m unittest` exits 0 when tests were skipped, which CTest reports as "Passed". This runner
exits 77 (the suites' SKIP_RETURN_CODE) when any test was skipped, so CTest shows the suite as
skipped; with CI=true a skip is a failure (exit 1): CI must run every suite, not skip it.
Usage: run_python_suite.py MODULE (run from the module's directory)."""
import os
import sys
import unittest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, os.getcwd())
    suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0:
        print("no test ran", file=sys.stderr)
        return 1
    if result.skipped:
        for test, reason in result.skipped:
            print("SKIPPED %s: %s" % (test.id(), reason))
        return 1 if IN_CI else 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
