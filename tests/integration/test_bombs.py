"""Issue 14 item 3: memory bombs. The agent parses executables that others choose, as root, in a
DaemonSet with a 256 MiB limit. A sparse executable of 1 GiB or 4 GiB-1 must be mapped, not read
(only the tables the agent needs are touched); compressed DWARF that declares more than goelf's
cap (128 MiB inflated) must be refused before libdw inflates a byte of it. Each test ends with
the agent serving, its peak RSS (VmHWM) under 64 MiB, and the target's counts exact.
Item 6's RET sled: a program whose probed functions have thousands of RETs in all gets at most
4,096 uprobe sites."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for
from targets import code_differences, private_copy, private_dir, unique

RSS_LIMIT_KIB = 64 * 1024
SHF_COMPRESSED = 0x800


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def zlib_of_zeros(size):
    """A real bomb: a zlib stream (~1 KiB per MiB) that inflates to `size` zero bytes."""
    c = zlib.compressobj(9)
    chunk = bytes(16 << 20)
    out = [c.compress(chunk) for _ in range(size // len(chunk))]
    out.append(c.flush())
    return b"".join(out)


def plant_debug_info(path, payload, zdebug):
    """Points the ELF's .debug_info section at `payload`, appended to the file. zdebug: as GNU
    .zdebug_info (renamed through a new section-name table appended too), else SHF_COMPRESSED."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shnum, shstrndx = struct.unpack_from("<HH", data, 0x3c)

        def header(i):
            return shoff + i * 64

        _, _, _, _, str_off, str_size = struct.unpack_from("<IIQQQQ", data, header(shstrndx))
        names = bytes(data[str_off:str_off + str_size])
        target = None
        for i in range(shnum):
            name_at, = struct.unpack_from("<I", data, header(i))
            if names[name_at:names.index(b"\0", name_at)] == b".debug_info":
                target = i
        assert target is not None, "no .debug_info in " + path
        end = len(data)
        flags, = struct.unpack_from("<Q", data, header(target) + 8)
        if zdebug:
            new_names = names + b".zdebug_info\0"
            struct.pack_into("<I", data, header(target), len(names))
            struct.pack_into("<QQ", data, header(shstrndx) + 24, end, len(new_names))
            data += new_names
            end = len(data)
            flags &= ~SHF_COMPRESSED
        else:
            flags |= SHF_COMPRESSED
        struct.pack_into("<Q", data, header(target) + 8, flags)
        struct.pack_into("<QQ", data, header(target) + 24, end, len(payload))
        data += payload
        f.seek(0)
        f.write(data)


class MemoryBombs(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        self.dir = private_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def attach_and_count(self, path):
        """The target runs `path`; the agent attached by PID must count its transfers exactly."""
        target = self.track(Fixture(path, ["--transfers", "2"]))
        agent = self.track(AgentProcess(["--pid", str(target.pid)]))
        agent.wait_ready()
        self.assertEqual(value(agent.samples(), "dwcp_observer_target_up", pid=str(target.pid)), 1, agent.log())
        target.go()
        truth = target.wait_done()
        self.assertTrue(wait_for(lambda: value(agent.samples(), "dwcp_observer_tcp_bytes_sent_total",
                                               pid=str(target.pid)) == truth["socket_bytes_written"]), agent.log())
        self.assertIsNone(agent.proc.poll())
        self.assertEqual(agent.get("/-/healthy")[0], 200)
        rss = peak_rss_kib(agent.proc.pid)
        print("%s (%d bytes): agent VmHWM %d KiB" % (os.path.basename(path), os.path.getsize(path), rss))
        self.assertLess(rss, RSS_LIMIT_KIB, agent.log())
        return agent

    def test_sparse_executables_are_mapped_not_read(self):
        for size in (1 << 30, (4 << 30) - 1):
            with self.subTest(size=size):
                path = private_copy(self.dir, "dwcp-fixture", unique("dw-sparse"))
                os.truncate(path, size)  # a hole after the real program: the kernel loads it as before
                self.attach_and_count(path)

    def test_compressed_dwarf_bombs_are_refused_before_inflating(self):
        inflated = 512 << 20
        stream = zlib_of_zeros(inflated)
        for zdebug in (False, True):
            with self.subTest(zdebug=zdebug):
                path = private_copy(self.dir, "dwcp-fixture", unique("dw-zbomb"))
                if zdebug:
                    payload = b"ZLIB" + struct.pack(">Q", inflated) + stream
                else:  # Elf64_Chdr: ELFCOMPRESS_ZLIB, reserved, ch_size, ch_addralign
                    payload = struct.pack("<IIQQ", 1, 0, inflated, 1) + stream
                plant_debug_info(path, payload, zdebug)
                agent = self.attach_and_count(path)
                self.assertIn("profile offsets not checked against DWARF", agent.log())
                self.assertIn("section %s declares %d): not inflated" %
                              (".zdebug_info" if zdebug else ".debug_info", inflated), agent.log())


SLED_FUNCTIONS = 20
SLED_CASES = 240  # each case returns: 241 RETs per function (under the 256-per-function cap)
MAX_SITES = 4096
EVENTS = ["send", "receive", "encode", "decode", "prune", "decompress", "stream_open", "compress_disk",
          "fed_sync", "session_close", "session_start", "reconnect", "compress_memory", "migrate_disk",
          "migrate_memory", "fed_baseline"]


def go_tool():
    for candidate in (os.environ.get("DWCP_GO_EXECUTABLE"), "/usr/lib/go-1.19/bin/go", shutil.which("go")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("no Go toolchain (the fixtures need one too)")


def build_sled(directory):
    """A Go program of SLED_FUNCTIONS functions with SLED_CASES + 1 RETs each, and a profile that
    probes every one of them at entry and at every RET: 20 x 242 = 4,840 sites asked for."""
    src = ["package main", "", 'import ("os"; "time")', ""]
    for f in range(SLED_FUNCTIONS):
        src += ["//go:noinline", "func F%02d(x int) int {" % f, "\tswitch x {"]
        src += ["\tcase %d:\n\t\treturn %d" % (c * 7 + f, c * 3 + 1) for c in range(SLED_CASES)]
        src += ["\t}", "\treturn -1", "}"]
    src += ["func main() {", "\ts := 0"] + ["\ts += F%02d(len(os.Args))" % f for f in range(SLED_FUNCTIONS)]
    src += ['\tif s != 0 {\n\t\tos.Stdout.WriteString("READY\\n")\n\t}', "\ttime.Sleep(time.Hour)", "}"]
    with open(os.path.join(directory, "main.go"), "w") as f:
        f.write("\n".join(src) + "\n")
    with open(os.path.join(directory, "go.mod"), "w") as f:
        f.write("module example.com/sled\n\ngo 1.19\n")
    env = dict(os.environ, GOCACHE=os.path.join(directory, "cache"), GOPATH=os.path.join(directory, "gopath"),
               GOFLAGS="-mod=mod", GO111MODULE="on", HOME=directory)
    binary = os.path.join(directory, "sled")
    subprocess.run([go_tool(), "build", "-buildvcs=false", "-o", binary, "."], cwd=directory, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    profile = {"schema": 1, "name": "sled", "package": "main",
               "probes": [{"function": "F%02d" % i, "event": EVENTS[i % len(EVENTS)], "params": "x int",
                           "results": "int", "exit": {}} for i in range(SLED_FUNCTIONS)]}
    profile_path = os.path.join(directory, "profile.json")
    with open(profile_path, "w") as f:
        json.dump(profile, f)
    return binary, profile_path


class RetSled(AgentTestCase):
    def setUp(self):
        super().setUp()
        require_bpf(self)
        self.dir = tempfile.mkdtemp(prefix="dwcp-sled-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_a_ret_sled_gets_at_most_4096_sites(self):
        binary, profile = build_sled(self.dir)
        sled = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
        self.addCleanup(sled.stdout.close)
        self.addCleanup(sled.wait)
        self.addCleanup(sled.kill)
        self.assertEqual(sled.stdout.readline().strip(), "READY")
        agent = self.track(AgentProcess(["--pid", str(sled.pid), "--profile", profile]))
        agent.wait_ready()
        per_function = 1 + SLED_CASES + 1
        fit = MAX_SITES // per_function  # 16 functions fit, the other 4 are refused
        attached = value(agent.samples(), "dwcp_observer_probes_attached", pid=str(sled.pid))
        self.assertEqual(attached, fit * per_function, agent.log())
        self.assertLessEqual(attached, MAX_SITES)
        self.assertEqual(agent.log().count("uprobe sites would exceed 4096 per process"), SLED_FUNCTIONS - fit,
                         agent.log())
        self.assertIsNone(sled.poll())
        self.assertLess(peak_rss_kib(agent.proc.pid), RSS_LIMIT_KIB)
        agent.stop()
        self.assertEqual(code_differences(sled.pid, binary), 0)  # every breakpoint gone with the agent


if __name__ == "__main__":
    import unittest
    unittest.main()
