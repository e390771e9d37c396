"""/-/ready means "at least one target attached and its probes live": 200 then, 503 before the
first attach, after the target exited, and while waiting for a successor, the body saying per
target why. Kubernetes' readinessProbe relies on it: an agent with nothing to observe is taken
out of the Service's endpoints (and so out of Prometheus' kubernetes_sd "ready" targets)."""
import os
import shutil
import tempfile
import unittest

from harness import AgentProcess, AgentTestCase, Fixture, fixture_path, require_bpf, wait_for


def status_and_body(agent):
    return agent.get("/-/ready")


class Readiness(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        self.tmp = tempfile.mkdtemp(prefix="dwcp-ready-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_ready_while_attached_not_ready_once_the_target_exited(self):
        fixture = self.track(Fixture())
        agent = self.track(AgentProcess(["--pid", str(fixture.pid)]))
        status, body = status_and_body(agent)
        self.assertEqual(status, 200, body)
        self.assertEqual(agent.get("/-/healthy")[0], 200)
        fixture.stop()
        self.assertTrue(wait_for(lambda: status_and_body(agent)[0] == 503, timeout=10), agent.log())
        status, body = status_and_body(agent)
        self.assertIn("no target attached", body)
        self.assertIn("pid-%d: target exited (not following it)" % fixture.pid, body)
        # Still serving: liveness and the metrics that say the target is down.
        self.assertEqual(agent.get("/-/healthy")[0], 200)
        self.assertIn("dwcp_observer_target_up", agent.metrics())

    def test_not_ready_before_the_first_attach_and_while_waiting_for_a_successor(self):
        name = "dwcpf-rd%06x" % int.from_bytes(os.urandom(3), "little")
        agent = self.track(AgentProcess(["--comm", name]))
        status, body = status_and_body(agent)
        self.assertEqual(status, 503, body)
        self.assertIn("%s: not attached yet (waiting for a process matching %s)" % (name, name), body)
        self.assertEqual(agent.get("/-/healthy")[0], 200)

        path = os.path.join(self.tmp, name)
        shutil.copy2(fixture_path("dwcp-fixture"), path)
        fixture = self.track(Fixture(path))
        self.assertTrue(wait_for(lambda: status_and_body(agent)[0] == 200, timeout=10), agent.log())

        fixture.stop()
        self.assertTrue(wait_for(lambda: status_and_body(agent)[0] == 503, timeout=10), agent.log())
        self.assertIn("target exited; waiting for a successor", status_and_body(agent)[1])

        successor = self.track(Fixture(path))
        self.assertTrue(wait_for(lambda: status_and_body(agent)[0] == 200, timeout=10), agent.log())
        self.assertIsNone(successor.proc.poll())


if __name__ == "__main__":
    unittest.main()
