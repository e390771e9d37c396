"""A FUSE file system as a hostile local user runs one: one file whose bytes and claimed owner
the server chooses, served by a process running as an unprivileged uid, mounted with
allow_other (what fusermount does for a user where /etc/fuse.conf has user_allow_other).

Speaks the kernel's FUSE protocol on /dev/fuse directly (linux/fuse.h): no library needed.
`stall()` makes the server read every later request and never answer it: the caller waits in
the kernel for as long as the server likes (request_wait_answer), as with a stuck FUSE server.
Every request's opcode and caller pid are appended to `requests` (a list shared through a file)."""
import ctypes
import os
import signal
import struct
import tempfile
import time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

LOOKUP, FORGET, GETATTR, OPEN, READ, STATFS, RELEASE, FLUSH, INIT = 1, 2, 3, 14, 15, 17, 18, 25, 26
OPENDIR, RELEASEDIR, ACCESS, INTERRUPT, DESTROY, BATCH_FORGET = 27, 29, 34, 36, 38, 42
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)
NAMES = {LOOKUP: "LOOKUP", GETATTR: "GETATTR", OPEN: "OPEN", READ: "READ", STATFS: "STATFS", RELEASE: "RELEASE",
         FLUSH: "FLUSH", OPENDIR: "OPENDIR", ACCESS: "ACCESS"}
IN_HEADER = struct.Struct("<IIQQIIII")   # len, opcode, unique, nodeid, uid, gid, pid, padding
OUT_HEADER = struct.Struct("<IiQ")       # len, error, unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # ino size blocks atime mtime ctime *nsec mode nlink uid gid rdev blksize flags
FOPEN_KEEP_CACHE = 2
FILE_NODE = 2


class FuseFile:
    """Serves `content` as <mountpoint>/<name> (claimed owner `claim_uid`, mode `claim_mode`),
    the mount owned by `owner_uid` with allow_other. Use as a context manager."""

    def __init__(self, content, name, owner_uid, claim_uid=0, claim_mode=0o755, subtype="dwcptest"):
        if not os.path.exists("/dev/fuse"):
            os.system("modprobe fuse >/dev/null 2>&1")
        self.content, self.name, self.subtype = content, name, subtype
        self.born = int(time.time())
        self.mountpoint = tempfile.mkdtemp(prefix="dwcp-fuse-")
        os.chmod(self.mountpoint, 0o755)
        self.path = os.path.join(self.mountpoint, name)
        self.fs_type = "fuse." + subtype
        log_fd, self.log_path = tempfile.mkstemp(prefix="dwcp-fuse-requests-")
        os.close(log_fd)
        stall_fd, self.stall_path = tempfile.mkstemp(prefix="dwcp-fuse-stall-")  # stall()'s opcodes
        os.close(stall_fd)
        os.chmod(self.stall_path, 0o644)
        os.chown(self.log_path, owner_uid, -1)
        fd = os.open("/dev/fuse", os.O_RDWR)
        data = "fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other" % (fd, owner_uid, owner_uid)
        if _libc.mount(b"dwcp-fuse-test", self.mountpoint.encode(), self.fs_type.encode(), 0, data.encode()) != 0:
            err = ctypes.get_errno()
            os.close(fd)
            os.rmdir(self.mountpoint)
            raise OSError(err, "mount fuse: " + os.strerror(err))
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.setgroups([])
                os.setgid(owner_uid)
                os.setuid(owner_uid)  # the server is the unprivileged user's, like any FUSE server
                self._serve(fd, claim_uid, claim_mode)
            finally:
                os._exit(0)
        os.close(fd)

    def stall(self, ops=None):
        """From now on every request (or those of `ops`, opcode names such as "READ") is read and
        never answered."""
        with open(self.stall_path, "w") as f:
            f.write(" ".join(ops or ()))
        os.kill(self.pid, signal.SIGUSR1)

    def requests(self):
        """[(opcode name, caller pid, answered)] of every request so far."""
        with open(self.log_path) as f:
            return [(op, int(pid), held == "answered") for op, pid, held in (line.split() for line in f)]

    def close(self):
        _libc.umount2(self.mountpoint.encode(), 2)  # MNT_DETACH: the held requests fail with the connection
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.rmdir(self.mountpoint)
        os.unlink(self.log_path)
        os.unlink(self.stall_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the server process ----------------------------------------------------------------

    def _attr(self, node, claim_uid, claim_mode):
        now = self.born  # fixed: a file whose times moved each second would look changed to the agent
        if node == 1:
            return ATTR.pack(1, 0, 0, now, now, now, 0, 0, 0, 0o040755, 2, claim_uid, 0, 0, 4096, 0)
        size = len(self.content)
        return ATTR.pack(FILE_NODE, size, (size + 511) // 512, now, now, now, 0, 0, 0, 0o100000 | claim_mode, 1,
                         claim_uid, 0, 0, 4096, 0)

    def _serve(self, fd, claim_uid, claim_mode):
        stalled = []

        def on_stall(*_):
            with open(self.stall_path) as f:
                stalled.append(set(f.read().split()))  # empty: every request
        signal.signal(signal.SIGUSR1, on_stall)
        log = open(self.log_path, "a", buffering=1)
        while True:
            try:
                buf = os.read(fd, 1 << 20)
            except OSError:
                return  # unmounted
            size, opcode, unique, node, _, _, pid, _ = IN_HEADER.unpack_from(buf)
            body = buf[IN_HEADER.size:size]
            if opcode in NO_REPLY:
                continue
            if stalled and opcode != INIT and (not stalled[-1] or NAMES.get(opcode) in stalled[-1]):
                log.write("%s %d held\n" % (NAMES.get(opcode, str(opcode)), pid))
                continue  # never answered
            error, out = 0, b""
            if opcode == INIT:
                major, minor, readahead = struct.unpack_from("<III", body)
                out = struct.pack("<IIIIHHIIHHI7I", 7, 31, readahead, 0, 16, 12, 1 << 17, 1, 0, 0, 0, *([0] * 7))
            elif opcode == LOOKUP:
                if node == 1 and body.rstrip(b"\0") == self.name.encode():
                    out = struct.pack("<QQQQII", FILE_NODE, 0, 3600, 3600, 0, 0) + self._attr(FILE_NODE, claim_uid,
                                                                                            claim_mode)
                else:
                    error = -2  # ENOENT
            elif opcode == GETATTR:
                out = struct.pack("<QII", 3600, 0, 0) + self._attr(node, claim_uid, claim_mode)
            elif opcode in (OPEN, OPENDIR):
                out = struct.pack("<QII", 0, FOPEN_KEEP_CACHE, 0)
            elif opcode == READ:
                _, offset, length = struct.unpack_from("<QQI", body)
                out = self.content[offset:offset + length]
            elif opcode in (RELEASE, RELEASEDIR, FLUSH, ACCESS, DESTROY):
                pass
            else:
                error = -38  # ENOSYS
            if opcode != INIT:
                log.write("%s %d answered\n" % (NAMES.get(opcode, str(opcode)), pid))
            os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(out), error, unique) + out)
