"""A DWCP process in a container (its own mount and PID namespaces): its binary exists only inside
the container's filesystem, so the agent must reach it through /proc/PID/exe; it reports the host
PID."""
import json
import os
import signal
import shutil
import subprocess
import tempfile
import unittest

from harness import (AgentProcess, AgentTestCase, fixture_path, require_bpf, value, wait_for)


class ContainerTarget(AgentTestCase):
    def test_process_in_private_mount_and_pid_namespace(self):
        require_bpf(self)
        if not shutil.which("unshare"):
            self.fail("unshare (util-linux) is missing")
        work = tempfile.mkdtemp(prefix="dwcp-container-")
        self.addCleanup(shutil.rmtree, work, True)
        truth = os.path.join(work, "truth.json")
        # Inside: a tmpfs mounted over a directory only the container sees, the fixture copied
        # there and run from there. From the host, that path holds nothing.
        hidden = os.path.join(work, "rootfs")
        os.mkdir(hidden)
        script = ('mount -t tmpfs none "%s" && cp "%s" "%s/dwcp" && exec "%s/dwcp" --wait-signal --linger '
                  '--listen 127.0.0.1:0 --streams 4 --transfers 6 --truth "%s"'
                  % (hidden, fixture_path(), hidden, hidden, truth))
        proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
                                 "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("READY"), line)
        self.assertEqual(line.split()[1], "1", "the fixture is PID 1 of its own PID namespace")
        # Its host PID: the child of unshare's forked child.
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        self.assertEqual(len(children), 1, children)
        host_pid = int(children[0])
        self.addCleanup(lambda: subprocess.run(["kill", "-KILL", str(host_pid)], capture_output=True))
        self.assertFalse(os.path.exists(os.path.join(hidden, "dwcp")), "the binary must be invisible to the host")

        agent = self.track(AgentProcess(["--pid", str(host_pid)]))
        agent.wait_ready()
        os.kill(host_pid, signal.SIGUSR1)
        while "DONE" not in proc.stdout.readline():
            pass
        with open(truth) as f:
            t = json.load(f)
        want = sum(t["bytes_sent_per_stream"].values())
        got = wait_for(lambda: value(agent.samples(), "dwcp_amst_bytes_sent_total") == want, timeout=20)
        s = agent.samples()
        self.assertTrue(got, "bytes sent %s != %s" % (value(s, "dwcp_amst_bytes_sent_total"), want))
        self.assertEqual(value(s, "dwcp_observer_target_up", pid=str(host_pid)), 1)
        self.assertEqual(value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(host_pid)), t["socket_bytes_written"])


if __name__ == "__main__":
    unittest.main()
