"""Issue 14 item 3: memory bombs. The agent parses executables that others choose, as root, in a
DaemonSet with a 256 MiB limit. A sparse executable of 1 GiB or 4 GiB-1 must be mapped, not read
(only the tables the agent needs are touched); compressed DWARF that declares more than goelf's
cap (128 MiB inflated) must be refused before libdw inflates a byte of it. Each test ends with
the agent serving, its peak RSS (VmHWM) under 64 MiB, and the target's counts exact."""
import os
import shutil
import struct
import zlib

from harness import AgentProcess, AgentTestCase, Fixture, require_bpf, value, wait_for
from targets import private_copy, private_dir, unique

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


if __name__ == "__main__":
    import unittest
    unittest.main()
