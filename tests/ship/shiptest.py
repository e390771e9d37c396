"""Helpers of the ship tests: the agent started with arbitrary web/log flags, a self-made CA."""
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import AGENT, IN_CI, AgentTestCase, Fixture, require_bpf, parse_exposition, terminate, value, wait_for, wait_for_transfer  # noqa: E402,F401

import warnings  # noqa: E402
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402  (Debian 12's Python 3.11 still has it; libcrypt does bcrypt)


def bcrypt_hash(password, cost=4):
    """A $2b$ hash (cost 4 keeps the test fast; the agent accepts costs up to 12)."""
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost))


class Agent:
    """dwcp-observer with the given flags, waiting for its "serving" line (http or https)."""

    def __init__(self, args, binary=None, prefix=(), expect_start=True, trigger=None):
        fd, self.log_path = tempfile.mkstemp(prefix="dwcp-ship-", suffix=".log")
        self.log_file = os.fdopen(fd, "w+")
        cmd = list(prefix) + [binary or AGENT] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log_file)
        self.address = self.scheme = None
        if trigger:  # socket activation: the first connection starts the agent
            import socket
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    socket.create_connection(trigger, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        if expect_start:
            deadline = time.time() + 30
            while time.time() < deadline:
                m = re.search(r"serving (https?)://([0-9.]+:\d+)/metrics", self.log())
                if m:
                    self.scheme, self.address = m.group(1), m.group(2)
                    return
                if self.proc.poll() is not None:
                    raise RuntimeError("agent exited with %d: %s" % (self.proc.returncode, self.log()))
                time.sleep(0.05)
            raise TimeoutError("agent did not start serving: " + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path, headers=None, context=None, timeout=10, raw=False):
        url = "%s://%s%s" % (self.scheme, self.address, path)
        req = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
                body = r.read()
                return r.status, dict(r.headers), body if raw else body.decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        terminate(self.proc)
        if not self.log_file.closed:
            self.log_file.close()
            os.unlink(self.log_path)
        return self.proc.returncode


def basic_auth_header(user, password):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


class CA:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dwcp-ca-")

        def run(*args):
            subprocess.run(["openssl"] + list(args), cwd=self.dir, check=True, capture_output=True)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=dwcp-test-ca")
        with open(os.path.join(self.dir, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for name, cn in (("server", "127.0.0.1"), ("client", "prometheus")):
            run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn)
            run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".crt", "-days", "2", "-extfile", "ext")
        for name in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, name), 0o600)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text, mode=0o600):
        with open(self.path(name), "w") as f:
            f.write(text)
        os.chmod(self.path(name), mode)
        return self.path(name)

    def context(self, client_cert=False):
        ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
        if client_cert:
            ctx.load_cert_chain(self.path("client.crt"), self.path("client.key"))
        return ctx

    def issue(self, name, cn="127.0.0.1"):
        """Another server certificate of this CA (name.crt, name.key): a renewal."""
        def run(*args):
            subprocess.run(["openssl"] + list(args), cwd=self.dir, check=True, capture_output=True)
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", name + ".crt", "-days", "2", "-extfile", "ext")

    def remove(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)
