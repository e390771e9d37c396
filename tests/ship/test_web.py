"""Exporter conventions of the agent's HTTP side, as a scraper and an operator see them: native TLS
with a self-made CA (plain HTTP refused), client certificates, bcrypt basic auth from the
exporter-toolkit web config, failed logins rate-limited and counted, --basic-auth-file refused
unless root-only, gzip, process_* self-metrics, promtool-clean exposition, JSON/logfmt log lines,
and /metrics answering a live scraper while a slowloris holds many connections open."""
import datetime
import gzip
import json
import os
import socket
import subprocess
import threading
import time
import unittest

from shiptest import CA, Agent, bcrypt_hash, parse_exposition, require_bpf, value

# The agent needs a target flag: a command name no process has keeps it waiting (and serving).
NO_TARGET = ["--comm", "dwcp-ship-nobody"]
BASE = NO_TARGET + ["--web.listen-address", "127.0.0.1:0"]


def basic(user, password):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


class WebTest(unittest.TestCase):
    def setUp(self):
        require_bpf(self)  # the agent loads BPF at start, whatever it serves
        self.agents = []
        self.ca = CA()

    def tearDown(self):
        for agent in self.agents:
            agent.stop()
        self.ca.remove()

    def start(self, args, **kw):
        agent = Agent(args, **kw)
        self.agents.append(agent)
        return agent

    def web_config(self, text):
        return self.ca.write("web.yml", text)

    # --- TLS ---------------------------------------------------------------------------------
    def test_tls_with_the_ca_works_and_plain_http_is_refused(self):
        config = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        agent = self.start(BASE + ["--web.config.file", config])
        self.assertEqual(agent.scheme, "https")
        status, _, body = agent.get("/metrics", context=self.ca.context())
        self.assertEqual(status, 200)
        self.assertIn("process_cpu_seconds_total", body)
        curl = subprocess.run(["curl", "-sS", "--cacert", self.ca.path("ca.crt"), "-o", "/dev/null", "-w",
                               "%{http_code}", "https://%s/metrics" % agent.address], capture_output=True, text=True)
        self.assertEqual(curl.stdout, "200", curl.stderr)
        plain = subprocess.run(["curl", "-sS", "-m", "5", "http://%s/metrics" % agent.address],
                               capture_output=True, text=True)
        self.assertNotEqual(plain.returncode, 0, "plain HTTP answered on the TLS port: " + plain.stdout[:200])
        self.assertNotIn("dwcp_", plain.stdout)
        unknown_ca = subprocess.run(["curl", "-sS", "-m", "5", "https://%s/metrics" % agent.address],
                                    capture_output=True, text=True)
        self.assertEqual(unknown_ca.returncode, 60, "a certificate of an unknown CA was accepted")
        self.assertIsNone(agent.proc.poll(), "agent died after a plain-HTTP connection: " + agent.log())

    def test_client_certificates_are_required_when_configured(self):
        config = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                                 "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n")
        agent = self.start(BASE + ["--web.config.file", config])
        status, _, _ = agent.get("/metrics", context=self.ca.context(client_cert=True))
        self.assertEqual(status, 200)
        without = subprocess.run(["curl", "-sS", "-m", "5", "--cacert", self.ca.path("ca.crt"),
                                  "https://%s/metrics" % agent.address], capture_output=True, text=True)
        self.assertNotEqual(without.returncode, 0, "served without a client certificate")
        self.assertIsNone(agent.proc.poll(), agent.log())

    # --- basic auth ----------------------------------------------------------------------------
    def test_bcrypt_auth_accepts_the_right_password_rejects_wrong_ones_and_rate_limits(self):
        config = self.web_config("basic_auth_users:\n  prometheus: '%s'\n" % bcrypt_hash("right horse"))
        agent = self.start(BASE + ["--web.config.file", config])
        ok = basic("prometheus", "right horse")
        self.assertEqual(agent.get("/metrics", headers=ok)[0], 200)
        self.assertEqual(agent.get("/metrics")[0], 401)
        self.assertEqual(agent.get("/metrics", headers=basic("prometheus", "wrong horse"))[0], 401)
        self.assertEqual(agent.get("/metrics", headers=basic("nobody", "right horse"))[0], 401)
        self.assertEqual(agent.get("/-/healthy")[0], 200, "probes must stay open")
        # Brute force from one address: after a burst, refused unchecked (429).
        statuses = [agent.get("/metrics", headers=basic("prometheus", "guess%d" % i))[0] for i in range(30)]
        self.assertEqual(set(statuses) - {401, 429}, set(), statuses)
        self.assertGreaterEqual(statuses.count(429), 15, statuses)
        # The configured scraper keeps working during the attack (its credentials were verified).
        status, _, body = agent.get("/metrics", headers=ok)
        self.assertEqual(status, 200)
        s = parse_exposition(body)
        self.assertEqual(value(s, "dwcp_observer_http_auth_failures_total", reason="missing"), 1)
        self.assertEqual(value(s, "dwcp_observer_http_auth_failures_total", reason="wrong"), 2 + statuses.count(401))
        self.assertEqual(value(s, "dwcp_observer_http_auth_failures_total", reason="rate_limited"), statuses.count(429))

    def test_tls_and_auth_together(self):
        config = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                                 "basic_auth_users:\n  p: '%s'\n" % bcrypt_hash("pw"))
        agent = self.start(BASE + ["--web.config.file", config])
        self.assertEqual(agent.get("/metrics", headers=basic("p", "pw"), context=self.ca.context())[0], 200)
        self.assertEqual(agent.get("/metrics", headers=basic("p", "px"), context=self.ca.context())[0], 401)

    def test_bad_web_configs_are_refused_with_the_reason(self):
        cases = {
            "basic_auth_users:\n  p: plaintext\n": "not a bcrypt hash",
            "tls_server_config:\n  cert_file: server.crt\n": "needs both cert_file and key_file",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n": "cannot read",
            "tls_config:\n  cert_file: x\n": "tls_config is not supported",
        }
        for text, reason in cases.items():
            agent = self.start(BASE + ["--web.config.file", self.web_config(text)], expect_start=False)
            self.assertEqual(agent.wait_exit(), 2, text)
            self.assertIn(reason, agent.log(), text)

    def test_basic_auth_file_must_be_root_only(self):
        path = self.ca.write("auth", "user:secret\n", mode=0o644)
        agent = self.start(BASE + ["--basic-auth-file", path], expect_start=False)
        self.assertEqual(agent.wait_exit(), 2)
        self.assertIn("must be owned by root with mode 0600 or 0400", agent.log())
        os.chmod(path, 0o600)
        agent = self.start(BASE + ["--basic-auth-file", path])
        self.assertIn("deprecated", agent.log())
        self.assertEqual(agent.get("/metrics", headers=basic("user", "secret"))[0], 200)
        self.assertEqual(agent.get("/metrics", headers=basic("user", "nope"))[0], 401)

    # --- exposition ----------------------------------------------------------------------------
    def test_gzip_process_metrics_and_promtool(self):
        started = time.time()
        agent = self.start(NO_TARGET + ["--listen", "127.0.0.1:0"])  # the old flag name still works
        status, headers, plain = agent.get("/metrics")
        self.assertEqual(status, 200)
        self.assertNotIn("Content-Encoding", headers)
        status, headers, packed = agent.get("/metrics", headers={"Accept-Encoding": "gzip"}, raw=True)
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        unpacked = gzip.decompress(packed).decode()
        names = lambda text: sorted(l.split()[2] for l in text.splitlines() if l.startswith("# TYPE"))
        self.assertEqual(names(unpacked), names(plain))
        s = parse_exposition(plain)
        self.assertGreater(value(s, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(s, "process_open_fds"), 3)
        self.assertGreaterEqual(value(s, "process_max_fds"), value(s, "process_open_fds"))
        self.assertGreater(value(s, "process_cpu_seconds_total"), 0)
        self.assertLess(abs(value(s, "process_start_time_seconds") - started), 30)
        check = subprocess.run(["promtool", "check", "metrics"], input=plain, capture_output=True, text=True)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""))

    # --- logs ----------------------------------------------------------------------------------
    def test_log_formats(self):
        for fmt in ("json", "logfmt"):
            agent = Agent(BASE + ["--log.format", fmt, "--log.level", "info"])
            agent.proc.terminate()
            agent.proc.wait(10)
            text = agent.log()
            agent.stop()
            lines = [l for l in text.splitlines() if l.strip()]
            self.assertGreaterEqual(len(lines), 3, text)
            for line in lines:
                if fmt == "json":
                    record = json.loads(line)
                    self.assertEqual(set(record) >= {"ts", "level", "msg"}, True, line)
                    stamp = record["ts"]
                else:
                    self.assertRegex(line, r'^ts=\S+ level=(debug|info|warn|error) msg=')
                    stamp = line.split()[0][3:]
                when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
                self.assertLess(abs((datetime.datetime.utcnow() - when).total_seconds()), 120, line)
            self.assertTrue(any("serving http://" in l for l in lines), text)
            self.assertTrue(any("SIGTERM received" in l for l in lines), text)

    # --- slow clients --------------------------------------------------------------------------
    def test_slowloris_next_to_a_live_scraper(self):
        agent = self.start(BASE)
        host, port = agent.address.split(":")
        stop = threading.Event()
        held = []
        lock = threading.Lock()

        def attacker(partial):
            # Keeps one connection open at all times: idle, or a request head that never ends
            # (one header byte every half second), reconnecting whenever the server drops it.
            while not stop.is_set():
                try:
                    s = socket.create_connection((host, int(port)), timeout=5)
                except OSError:
                    time.sleep(0.05)
                    continue
                with lock:
                    held.append(s)
                try:
                    if partial:
                        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    while not stop.is_set():
                        if partial:
                            s.sendall(b"X")
                        time.sleep(0.5)
                        s.settimeout(0.01)
                        try:
                            if s.recv(1) == b"":
                                break  # dropped by the server: reconnect
                        except socket.timeout:
                            pass
                except OSError:
                    pass
                finally:
                    s.close()

        threads = [threading.Thread(target=attacker, args=(i % 2 == 1,), daemon=True) for i in range(120)]
        for t in threads:
            t.start()
        time.sleep(2)
        try:
            times = []
            for _ in range(6):
                began = time.time()
                status, _, body = agent.get("/metrics", timeout=10)  # Prometheus's default scrape_timeout
                times.append(time.time() - began)
                self.assertEqual(status, 200)
                self.assertIn("process_open_fds", body)
                time.sleep(0.5)
            print("scrape seconds under 120 slow connections:", ["%.2f" % t for t in times])
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertIsNone(agent.proc.poll(), agent.log())


if __name__ == "__main__":
    unittest.main()
