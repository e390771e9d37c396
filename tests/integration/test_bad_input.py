"""Bad input: each case gets a clear message and its documented exit code (docs/troubleshooting.md),
no crash, and no probe left behind (checked by AgentTestCase.tearDown)."""
import os
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (AGENT, SOURCE_DIR, AgentProcess, AgentTestCase, Fixture, fixture_path, require_bpf,
                     value, wait_for)

EXIT_USAGE, EXIT_TARGET, EXIT_SYMBOLS, EXIT_PRIVILEGE, EXIT_LISTEN, EXIT_BPF = 2, 3, 4, 5, 6, 7
BAD_PROFILES = os.path.join(SOURCE_DIR, "tests", "profile", "bad")


def run_agent(args, prefix=(), timeout=30):
    proc = subprocess.run(list(prefix) + [AGENT] + list(args), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr + proc.stdout


def unused_pid():
    pid = 4_000_000
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


class BadInput(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)

    def assertRefused(self, args, code, *phrases, prefix=()):
        got, text = run_agent(list(args) + ["--listen", "127.0.0.1:0"], prefix=prefix)
        self.assertEqual(got, code, "exit code for %s: %s" % (args, text))
        self.assertNotIn("Segmentation", text)
        for phrase in phrases:
            self.assertIn(phrase, text, "message for %s" % (args,))
        return text

    def test_pid_that_does_not_exist(self):
        pid = unused_pid()
        self.assertRefused(["--pid", str(pid)], EXIT_TARGET, "no process with PID %d" % pid)

    def test_pid_zero_is_a_usage_error(self):
        self.assertRefused(["--pid", "0"], EXIT_USAGE, "--pid")

    def test_unknown_flag(self):
        self.assertRefused(["--pid", "1", "--bogus"], EXIT_USAGE, "bogus")

    def test_no_target_means_discovery(self):
        # No --pid/--comm/--exe is not an error: the agent watches the node (test_discovery.py).
        agent = self.track(AgentProcess(["--allow-path", "/nonexistent-dwcp-dir"]))
        self.assertIn("discovery: watching every process", agent.log())
        self.assertEqual(agent.stop(), 0, agent.log())

    def test_zombie(self):
        child = subprocess.Popen(["true"])
        time.sleep(0.3)  # exited, not reaped: a zombie until wait()
        try:
            self.assertRefused(["--pid", str(child.pid)], EXIT_TARGET, "zombie")
        finally:
            child.wait()

    def test_kernel_thread(self):
        kthread = None
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        flags = int(f.read().rsplit(")", 1)[1].split()[6])
                except (OSError, IndexError, ValueError):
                    continue
                if flags & 0x00200000:
                    kthread = int(entry)
                    break
        if kthread is None:
            self.skipTest("no kernel thread visible in this PID namespace")
        self.assertRefused(["--pid", str(kthread)], EXIT_TARGET, "kernel thread")

    def test_go_binary_without_dwcp_symbols_names_what_is_missing(self):
        proc = subprocess.Popen([fixture_path("not-dwcp"), "--linger"], stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            text = self.assertRefused(["--pid", str(proc.pid)], EXIT_SYMBOLS, "none of the symbols",
                                      "(*MultiStreamTCP).reconnectStream", "--sockets-only")
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    def test_non_go_binary(self):
        proc = subprocess.Popen(["sleep", "60"])
        try:
            self.assertRefused(["--pid", str(proc.pid)], EXIT_SYMBOLS, "none of the symbols")
        finally:
            proc.kill()
            proc.wait()

    def test_sockets_only_still_serves_kernel_side_metrics(self):
        proc = subprocess.Popen([fixture_path("not-dwcp"), "--linger"], stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            agent = self.track(AgentProcess(["--pid", str(proc.pid), "--sockets-only"]))
            agent.wait_ready()
            s = agent.samples()
            self.assertEqual(value(s, "dwcp_observer_target_up", pid=str(proc.pid)), 1)
            self.assertIsNotNone(value(s, "dwcp_observer_tcp_bytes_sent_total", pid=str(proc.pid)))
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    def test_listen_port_in_use(self):
        fixture = self.track(Fixture())
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            got, text = run_agent(["--pid", str(fixture.pid), "--listen", "127.0.0.1:%d" % port])
        self.assertEqual(got, EXIT_LISTEN, text)
        self.assertIn("127.0.0.1:%d" % port, text)
        self.assertIn("in use", text)

    def test_unparseable_listen_address(self):
        fixture = self.track(Fixture())
        got, text = run_agent(["--pid", str(fixture.pid), "--listen", "not-an-address"])
        self.assertEqual(got, EXIT_LISTEN, text)
        self.assertIn("not-an-address", text)

    def test_unreadable_profile(self):
        fixture = self.track(Fixture())
        self.assertRefused(["--pid", str(fixture.pid), "--profile", "/nonexistent/profile.json"], EXIT_SYMBOLS,
                           "/nonexistent/profile.json")

    def test_malformed_profiles(self):
        fixture = self.track(Fixture())
        bad = sorted(os.listdir(BAD_PROFILES)) if os.path.isdir(BAD_PROFILES) else []
        self.assertGreaterEqual(len(bad), 5, "expected malformed sample profiles in " + BAD_PROFILES)
        for name in bad:
            with self.subTest(profile=name):
                self.assertRefused(["--pid", str(fixture.pid), "--profile", os.path.join(BAD_PROFILES, name)],
                                   EXIT_SYMBOLS, "probe profile")

    def test_without_privilege_names_the_missing_capabilities(self):
        fixture = self.track(Fixture())
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--"]
        self.assertRefused(["--pid", str(fixture.pid)], EXIT_PRIVILEGE, "CAP_BPF", "CAP_PERFMON", prefix=drop)

    def test_bad_ringbuf_size(self):
        fixture = self.track(Fixture())
        self.assertRefused(["--pid", str(fixture.pid), "--ringbuf-size", "1000"], EXIT_USAGE, "ring buffer size")

    def test_missing_basic_auth_file(self):
        self.assertRefused(["--pid", "1", "--basic-auth-file", "/nonexistent"], EXIT_USAGE, "basic-auth-file")


if __name__ == "__main__":
    unittest.main()
