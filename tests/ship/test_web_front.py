"""The HTTP front as an attacker and a node_exporter user meet it (issues 20 and 21), against the
agent as shipped (HTTP process dropped to its own user): a wrong-password flood from 30 addresses,
known against unknown user names, 1,000 idle connections, every TLS 1.2 suite tried with
`openssl s_client`, a node_exporter-style web config (suites, curves, versions, client
certificates, headers, basic auth) scraped over TLS, a certificate replaced on disk, SIGHUP,
keep-alive, socket activation, --version and CLI errors through the log format.

The thresholds are the issue's (a scrape under 100 ms at p99 during the flood, under 1 s with
1,000 idle connections); before this server they were 8.5-10.9 s and 13.2 s."""
import http.client
import json
import os
import pwd
import re
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time
import unittest

from shiptest import AGENT, CA, Agent, basic_auth_header, bcrypt_hash, require_bpf

BASE = ["--comm", "dwcp-ship-nobody", "--web.listen-address", "127.0.0.1:0"]


def run_as_ids():
    """The user the HTTP process becomes (the agent's default --user)."""
    for name in ("dwcp-observer", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    return 65534, 65534


def timed_get(address, headers=None, source=None, context=None):
    """One request on a fresh connection (from `source` when given): (status, seconds)."""
    host, port = address.split(":")
    began = time.monotonic()
    if context is None:
        conn = http.client.HTTPConnection(host, int(port), timeout=15, source_address=(source, 0) if source else None)
    else:
        conn = http.client.HTTPSConnection(host, int(port), timeout=15, context=context)
    try:
        conn.request("GET", "/metrics", headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - began
    finally:
        conn.close()


class WebFrontTest(unittest.TestCase):
    def setUp(self):
        require_bpf(self)
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

    # --- passwords under attack -----------------------------------------------------------------
    def test_wrong_password_flood_from_30_addresses_leaves_a_valid_scrape_fast(self):
        config = self.web_config("basic_auth_users:\n  prometheus: '%s'\n" % bcrypt_hash("right horse", cost=10))
        agent = self.start(BASE + ["--web.config.file", config])
        good = basic_auth_header("prometheus", "right horse")
        self.assertEqual(timed_get(agent.address, good)[0], 200)  # the scraper's first, verified scrape
        stop = threading.Event()
        refused = []

        def attacker(n):
            while not stop.is_set():
                try:
                    refused.append(timed_get(agent.address, basic_auth_header("prometheus", "guess%d" % n),
                                             source="127.0.1.%d" % (n + 1))[0])
                except OSError:
                    pass

        threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(30)]
        for t in threads:
            t.start()
        try:
            time.sleep(1)
            times = []
            for _ in range(100):
                status, seconds = timed_get(agent.address, good)
                self.assertEqual(status, 200)
                times.append(seconds)
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        times.sort()
        p99 = times[98]
        print("valid scrape under 30 wrong-password clients: p50 %.1f ms, p99 %.1f ms, %d guesses refused (%s)" % (
            times[49] * 1000, p99 * 1000, len(refused), sorted(set(refused))))
        self.assertEqual(set(refused) - {401, 429}, set())
        self.assertGreater(len(refused), 30)
        self.assertLess(p99, 0.100)

    def test_unknown_and_known_user_names_cost_the_same(self):
        config = self.web_config("basic_auth_users:\n  prometheus: '%s'\n" % bcrypt_hash("right horse", cost=10))
        agent = self.start(BASE + ["--web.config.file", config])
        known, unknown = [], []
        for i in range(12):  # alternating, each from an address of its own (no rate limit)
            known.append(timed_get(agent.address, basic_auth_header("prometheus", "wrong"), source="127.0.2.%d" % (i + 1)))
            unknown.append(timed_get(agent.address, basic_auth_header("nosuchuser", "wrong"), source="127.0.3.%d" % (i + 1)))
        self.assertEqual({s for s, _ in known + unknown}, {401})
        k = statistics.median(t for _, t in known)
        u = statistics.median(t for _, t in unknown)
        print("wrong password, median: known user %.1f ms, unknown user %.1f ms" % (k * 1000, u * 1000))
        # Before: 440 ms against 6 ms. Same work: within a factor that noise, never a hash, explains.
        self.assertGreater(u, k / 2)
        self.assertLess(u, k * 2)

    # --- connections ----------------------------------------------------------------------------
    def test_1000_idle_connections_leave_a_scrape_under_a_second(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        agent = self.start(BASE)
        host, port = agent.address.split(":")
        idle = []
        try:
            for _ in range(1000):
                idle.append(socket.create_connection((host, int(port)), timeout=5))
            time.sleep(0.5)
            times = [timed_get(agent.address) for _ in range(10)]
        finally:
            for s in idle:
                s.close()
        print("scrape with 1,000 idle connections: max %.1f ms" % (max(t for _, t in times) * 1000))
        self.assertEqual({s for s, _ in times}, {200})
        self.assertLess(max(t for _, t in times), 1.0)

    def test_keep_alive(self):
        agent = self.start(BASE)
        host, port = agent.address.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(3):
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
            self.assertNotEqual((response.getheader("Connection") or "").lower(), "close")
        conn.close()

    # --- TLS ------------------------------------------------------------------------------------
    def s_client(self, address, *args):
        return subprocess.run(["openssl", "s_client", "-connect", address, "-CAfile", self.ca.path("ca.crt")] + list(args),
                              input="", capture_output=True, text=True, timeout=20)

    def test_openssl_finds_no_tls12_suite_without_forward_secrecy(self):
        config = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        agent = self.start(BASE + ["--web.config.file", config])
        suites = subprocess.run(["openssl", "ciphers", "-tls1_2", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"], capture_output=True,
                                text=True, check=True).stdout.strip().split(":")
        accepted = []
        for suite in suites:
            if suite.startswith("TLS_"):
                continue  # TLS 1.3's: all AEAD and forward secret
            r = self.s_client(agent.address, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
            if re.search(r"Cipher is (?!\(NONE\))\S", r.stdout):
                accepted.append(suite)
        print("TLS 1.2 suites accepted (of %d tried): %s" % (len(suites), accepted))
        self.assertTrue(accepted, "no TLS 1.2 suite at all")
        for suite in accepted:
            self.assertRegex(suite, r"^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$")

    def test_node_exporter_web_config_over_tls(self):
        config = self.web_config(
            "tls_server_config:\n"
            "  cert_file: server.crt\n  key_file: server.key\n"
            "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
            "  min_version: TLS12\n  max_version: TLS12\n"
            "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
            "  curve_preferences: [CurveP384]\n  prefer_server_cipher_suites: true\n"
            "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n"
            "    Strict-Transport-Security: max-age=31536000\n"
            "basic_auth_users:\n  prometheus: '%s'\n" % bcrypt_hash("pw"))
        agent = self.start(BASE + ["--web.config.file", config])
        status, headers, _ = agent.get("/metrics", headers=basic_auth_header("prometheus", "pw"),
                                       context=self.ca.context(client_cert=True))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("X-Frame-Options"), "deny")
        self.assertEqual(headers.get("Strict-Transport-Security"), "max-age=31536000")
        client = ["-cert", self.ca.path("client.crt"), "-key", self.ca.path("client.key")]
        r = self.s_client(agent.address, *client)
        self.assertIn("Cipher is ECDHE-RSA-AES256-GCM-SHA384", r.stdout)
        self.assertRegex(r.stdout, r"Server Temp Key: ECDH, (secp384r1|P-384)")
        self.assertNotRegex(self.s_client(agent.address, "-tls1_3", *client).stdout, r"Cipher is (?!\(NONE\))\S",
                            "TLS 1.3 above max_version")
        without_cert = agent_get_status(agent, self.ca.context())
        self.assertNotEqual(without_cert, 200, "served without a client certificate")

    def test_certificate_replaced_on_disk_is_served_on_the_next_handshake(self):
        # Renewal re-reads the files as the HTTP process's user: make them its own.
        uid, gid = run_as_ids()
        os.chmod(self.ca.dir, 0o755)
        for name in os.listdir(self.ca.dir):
            os.chown(self.ca.path(name), uid, gid)
        config = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        agent = self.start(BASE + ["--web.config.file", config])
        first = served_certificate(agent.address)
        self.ca.issue("renewed")
        for suffix in ("crt", "key"):
            os.chown(self.ca.path("renewed." + suffix), uid, gid)
            os.replace(self.ca.path("renewed." + suffix), self.ca.path("server." + suffix))
        second = served_certificate(agent.address)
        self.assertNotEqual(first, second, "the old certificate is still served")
        self.assertEqual(second, open(self.ca.path("server.crt")).read().strip())
        status, _, _ = agent.get("/metrics", context=self.ca.context())
        self.assertEqual(status, 200)
        # SIGHUP (systemd's ExecReload) does not end the agent and leaves TLS serving.
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIsNone(agent.proc.poll(), agent.log())
        self.assertEqual(agent.get("/metrics", context=self.ca.context())[0], 200)

    # --- exporter conventions -------------------------------------------------------------------
    def test_systemd_socket_activation(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        agent = self.start(["-l", "127.0.0.1:%d" % port, AGENT, "--comm", "dwcp-ship-nobody", "--web.systemd-socket"],
                           binary="systemd-socket-activate", trigger=("127.0.0.1", port))
        self.assertEqual(agent.address, "127.0.0.1:%d" % port)
        self.assertEqual(agent.get("/metrics")[0], 200)

    def test_version_block_and_cli_errors_in_the_log_format(self):
        version = subprocess.run([AGENT, "--version"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^dwcp-observer, version \S+ \(branch: \S+, revision: \S+\)\n"
                                         r"  build user:\s+\S+\n  build date:\s+\d{8}-\d\d:\d\d:\d\d\n(?:.*\n)*"
                                         r"  platform:\s+linux/(amd64|arm64)\n", )
        bad = subprocess.run([AGENT, "--log.format", "json", "--web.max-requests", "many"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        record = json.loads(bad.stderr.strip().splitlines()[-1])
        self.assertEqual((record["level"], record["exit_code"]), ("error", 2))
        self.assertIn("--web.max-requests", record["msg"])


def agent_get_status(agent, context):
    try:
        return agent.get("/metrics", context=context)[0]
    except (ssl.SSLError, OSError):
        return None


def served_certificate(address):
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw) as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).strip()


if __name__ == "__main__":
    unittest.main()
