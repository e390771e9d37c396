"""Helpers of the discovery and hardening tests: private root-owned copies of the fixtures, a
process of another user, the check that no breakpoint sits in a process's code, and a fanotify
permission listener that holds the agent's open() of a file (a stalled file system's stand-in,
and the moment of an exec race)."""
import ctypes
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time

from harness import fixture_path, terminate

NOBODY = 65534


def private_dir():
    """A root-owned 0755 temp dir: binaries in it pass the default follow policy, and other users
    may run what they own in it."""
    d = tempfile.mkdtemp(prefix="dwcp-disc-")
    os.chmod(d, 0o755)
    return d


def private_copy(directory, variant, name, owner=0, mode=0o755):
    path = os.path.join(directory, name)
    shutil.copyfile(fixture_path(variant), path)
    os.chown(path, owner, owner)
    os.chmod(path, mode)
    return path


def unique(prefix):
    return "%s-%06x" % (prefix, int.from_bytes(os.urandom(3), "little"))


class Process:
    """A fixture or not-dwcp binary started with --wait-signal (it waits, opening no socket),
    optionally as another user."""

    def __init__(self, path, user=None, args=()):
        self.proc = subprocess.Popen([path, "--wait-signal"] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, user=user, group=user)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError("%s did not start: %r" % (path, line))
        self.pid = self.proc.pid

    def stop(self):
        terminate(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


def code_differences(pid, path):
    """Bytes of `path`'s executable mappings in process `pid` that differ from the file: the
    int3 (0xcc) of a uprobe shows here. None when `pid` does not map `path` executable."""
    with open(path, "rb") as f:
        data = f.read()
    found, differences = False, 0
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb") as mem:
        for line in maps:
            parts = line.split()
            if len(parts) < 6 or "x" not in parts[1] or parts[5] != path:
                continue
            found = True
            start, end = (int(x, 16) for x in parts[0].split("-"))
            offset = int(parts[2], 16)
            mem.seek(start)
            code = mem.read(end - start)
            on_disk = data[offset:offset + len(code)]
            if code != on_disk:
                differences += sum(1 for a, b in zip(code, on_disk) if a != b)
    return differences if found else None


_libc = ctypes.CDLL(None, use_errno=True)
_libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
_libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
FAN_CLOEXEC, FAN_CLASS_CONTENT, FAN_OPEN_PERM, FAN_MARK_ADD, FAN_ALLOW = 0x1, 0x4, 0x10000, 0x1, 0x1
_EVENT = struct.Struct("<IBBHQii")


class OpenGate:
    """Holds every open() of `path` by process `held_pid` (once set) until released; opens by
    anyone else pass at once. `on_first_held()` runs when that process's first open arrives,
    before the gate decides to hold or release it.

    Start the processes that run `path` before the gate: the listener is a Python thread, and a
    child this interpreter forks (vfork, holding the GIL) and that execs `path` would wait for it
    while it waits for the GIL."""

    def __init__(self, path):
        self.fd = _libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "fanotify_init")
        if _libc.fanotify_mark(self.fd, FAN_MARK_ADD, FAN_OPEN_PERM, -100, path.encode()) != 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), "fanotify_mark " + path)
        self.path = path
        self.held_pid = None
        self.error = None            # what on_first_held raised, if anything
        self.hold = True             # False: the agent's opens pass too
        self.on_first_held = None    # called once, in the listener thread, before deciding
        self.held = []               # event fds of opens held
        self.held_event = threading.Event()
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _answer(self, event_fd):
        try:
            os.write(self.fd, struct.pack("<iI", event_fd, FAN_ALLOW))
        except OSError:
            pass
        os.close(event_fd)

    def _listen(self):
        while not self.closed:
            try:
                buf = os.read(self.fd, 4096)
            except OSError:
                return
            at = 0
            while at + _EVENT.size <= len(buf):
                length, _, _, _, _, event_fd, pid = _EVENT.unpack_from(buf, at)
                at += length
                if not self._held(pid) or event_fd < 0:
                    if event_fd >= 0:
                        self._answer(event_fd)
                    continue
                if not self.held_event.is_set():
                    self.held_event.set()
                    if self.on_first_held:
                        try:
                            self.on_first_held()
                        except Exception as e:  # the listener must live on: opens wait on it
                            self.error = e
                with self.lock:
                    if self.hold and not self.closed:
                        self.held.append(event_fd)
                        continue
                self._answer(event_fd)

    def _held(self, pid):
        """The agent itself or its read helper (agent/executable_fetch.h: a child that opens)."""
        if self.held_pid is None:
            return False
        if pid == self.held_pid:
            return True
        try:
            with open("/proc/%d/status" % pid) as f:
                return any(line.split() == ["PPid:", str(self.held_pid)] for line in f)
        except OSError:
            return False

    def release(self):
        """Lets the held opens (and every later one) through."""
        with self.lock:
            self.hold = False
            held, self.held = self.held, []
        for event_fd in held:
            self._answer(event_fd)

    def close(self):
        self.release()
        with self.lock:
            self.closed = True
        # Wake the listener out of read() with an open of our own (which it lets through), so
        # that closing the descriptor really ends the group. Never while it is not listening:
        # that open would wait for an answer forever.
        if self.thread.is_alive():
            try:
                with open(self.path, "rb"):
                    pass
            except OSError:
                pass
            self.thread.join(5)
        os.close(self.fd)
