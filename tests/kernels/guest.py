#!/usr/bin/env python3
"""Runs one command inside a qemu guest booted with one of Debian's stock kernels.

The guest sees this machine's root file system read-only (virtio-9p) under a tmpfs overlay, so
the already built binaries and tests run unchanged; it has its own /proc, /sys, bpffs, debugfs,
tracefs and loopback. An arm64 suite ("trixie-arm64", fetched with DWCP_KERNEL_ARCH=arm64)
boots in qemu-system-aarch64 -M virt -cpu max on Debian's arm64 root file system
(tests/arm64/make_rootfs.sh, a directory) instead, with the directories named in `shared` (the
source and build trees) mounted from this machine at the same paths. Output goes to the serial console, which is this process's stdout; the
command's exit code comes back as a marker line. Kernels come from fetch_kernels.sh's cache.

  guest.py SUITE [--timeout S] -- COMMAND...
"""
import argparse
import hashlib
import lzma
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("DWCP_KERNEL_CACHE", "/var/cache/dwcp-observer/kernels")
HERE = os.path.dirname(os.path.abspath(__file__))
# Loaded in this order with their dependencies first; absent from modules.dep = built in.
MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
RC_MARKER = "DWCP_GUEST_RC="

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "dwcp-guest: $*"; echo "DWCP_GUEST_RC=125"; poweroff -f; sleep 10; }
for m in $(cat /modules.list); do insmod "/modules/$m" || echo "dwcp-guest: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || fail "cannot mount the root over 9p"
mount -t tmpfs -o size=1200m tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay"
r=/newroot
shared=$(sed -n 's/.*dwcp_shared=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$shared" ]; then
  mkdir -p /host && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostshare /host || fail "cannot mount the host over 9p"
  for d in $(echo "$shared" | tr ',' ' '); do mkdir -p "$r$d" && mount -o bind "/host$d" "$r$d" || fail "cannot share $d"; done
fi
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
mount -t tmpfs tmpfs $r/run
mount -t bpf bpf $r/sys/fs/bpf
mount -t debugfs debugfs $r/sys/kernel/debug
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup
ip link set lo up
cmd=$(sed -n 's/.*dwcp_cmd=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "dwcp-guest: kernel $(uname -r) $(uname -m), running $cmd"
chroot $r /bin/sh "$cmd"
echo "DWCP_GUEST_RC=$?"
sync
poweroff -f
"""


ARM64_ROOTFS = os.path.join(os.environ.get("DWCP_ARM64_CACHE", "/var/cache/dwcp-observer/arm64"), "rootfs")


def is_arm64(suite):
    return suite.endswith("-arm64")


def kernel_dir(suite):
    d = os.path.join(CACHE, suite)
    if not (os.path.isfile(os.path.join(d, "vmlinuz")) and os.path.isfile(os.path.join(d, "release"))):
        raise FileNotFoundError("kernel of %s not fetched (tests/kernels/fetch_kernels.sh %s)" % (suite, suite))
    return d


def read_module(path):
    if path.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-q", "-d", "-c", path], capture_output=True, check=True).stdout
    if path.endswith(".gz"):
        return subprocess.run(["gzip", "-d", "-c", path], capture_output=True, check=True).stdout
    with open(path, "rb") as f:
        return f.read()


def module_order(moddir):
    """{path: uncompressed bytes} of MODULES and their dependencies, dependencies first. Debian's
    packages ship no modules.dep (depmod runs at install), so dependencies come from each
    module's own .modinfo `depends=`; a module not in the tree is built in."""
    def name(path):
        return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", os.path.basename(path)).replace("-", "_")

    by_name = {}
    for top, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if ".ko" in f:
                by_name[name(f)] = os.path.join(top, f)
    order = {}

    def visit(module):
        path = by_name.get(module)
        if path is None or path in order:
            return
        data = read_module(path)
        m = re.search(rb"\x00depends=([^\x00]*)\x00", data)
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep.replace("-", "_"))
        order[path] = data

    for m in MODULES:
        visit(m.replace("-", "_"))
    return order


def initramfs(suite):
    """The suite's initramfs (cached next to its kernel, keyed by the init script)."""
    d = kernel_dir(suite)
    release = open(os.path.join(d, "release")).read().strip()
    moddir = os.path.join(d, "lib", "modules", release)
    key = hashlib.sha256((INIT + repr(MODULES)).encode()).hexdigest()[:12]
    out = os.path.join(d, "initramfs-%s.cpio" % key)
    if os.path.exists(out):
        return out
    with tempfile.TemporaryDirectory(prefix="dwcp-initramfs-") as root:
        for sub in ("bin", "modules"):
            os.makedirs(os.path.join(root, sub))
        # The guest's own architecture's busybox (busybox-static in the arm64 root file system).
        busybox = os.path.join(ARM64_ROOTFS, "bin/busybox") if is_arm64(suite) else "/bin/busybox"
        shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
        names = []
        for path, data in module_order(moddir).items():
            plain = re.sub(r"\.(xz|zst|gz)$", "", os.path.basename(path))
            with open(os.path.join(root, "modules", plain), "wb") as f:
                f.write(data)
            names.append(plain)
        with open(os.path.join(root, "modules.list"), "w") as f:
            f.write("\n".join(names) + "\n")
        with open(os.path.join(root, "init"), "w") as f:
            f.write(INIT)
        os.chmod(os.path.join(root, "init"), 0o755)
        files = subprocess.run("find . -print0", shell=True, cwd=root, capture_output=True, check=True).stdout
        tmp = out + ".tmp"
        with open(tmp, "wb") as o:
            subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], input=files, cwd=root, stdout=o,
                           check=True)
        os.rename(tmp, out)
    return out


# Printed by the guest just before the command: a guest that dies before it never ran our code.
STARTED_MARKER = "dwcp-guest: command starting"


def echo_line(line):
    print(line, flush=True)


def run(suite, command, timeout=900, env=None, cwd=None, cpu="max", shared=(), echo=None):
    """Boots the suite's kernel, runs `command` (a shell string) as root in the guest and returns
    (exit code or None on timeout/crash, console output). The console is echoed live. `cpu` is
    qemu's -cpu (experiments: "max,la57=off" for 4-level paging). `shared`: host directories
    mounted at the same path in an arm64 guest (the amd64 guest sees the whole host already).
    `echo`: called with each console line, stamped with the guest's time (default: printed)."""
    d = kernel_dir(suite)
    ramfs = initramfs(suite)
    with tempfile.TemporaryDirectory(prefix="dwcp-guest-") as work:
        script = os.path.join(work, "cmd.sh")
        with open(script, "w") as f:
            f.write("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\n")
            f.write("echo %s\n" % STARTED_MARKER)
            f.write("cd %s || exit 126\n" % shlex.quote(cwd or os.getcwd()))
            for k, v in (env or {}).items():
                f.write("export %s=%s\n" % (k, shlex.quote(v)))
            f.write(command + "\n")
        # loglevel=5: warnings reach the console, with the register dump and stack a soft lockup
        # or a WARN prints at the default level (4); the boot's info messages do not.
        append = ("panic=-1 quiet loglevel=5 damon_stat.enabled=N damon_reclaim.enabled=N "
                  "damon_lru_sort.enabled=N dwcp_cmd=%s" % script)
        if is_arm64(suite):
            # The script lives on this machine: share its directory too.
            dirs = sorted(set(list(shared) + [work]))
            cmd = ["qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", cpu, "-m", "2048", "-smp", "2",
                   "-nographic", "-no-reboot", "-nic", "none", "-kernel", os.path.join(d, "vmlinuz"),
                   "-initrd", ramfs, "-append", "console=ttyAMA0 dwcp_shared=%s " % ",".join(dirs) + append,
                   "-virtfs", "local,path=%s,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
                   % ARM64_ROOTFS,
                   "-virtfs", "local,path=/,mount_tag=hostshare,security_model=none,readonly=on,multidevs=remap"]
        else:
            cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", cpu, "-m", "2048", "-smp", "2", "-nographic",
                   "-no-reboot", "-nic", "none", "-kernel", os.path.join(d, "vmlinuz"), "-initrd", ramfs,
                   "-append", "console=ttyS0 " + append,
                   "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines, rc = [], None
        started = time.time()
        deadline = started + timeout
        try:
            # A guest that hangs silently must still end at the deadline: wait with select, never
            # in a blocking readline.
            pending, fd = b"", proc.stdout.fileno()
            while True:
                left = deadline - time.time()
                if left <= 0:
                    print("guest: timeout after %d s" % timeout, flush=True)
                    break
                if not select.select([fd], [], [], min(left, 5))[0]:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace").rstrip("\r")
                    if line.startswith(RC_MARKER):
                        rc = int(line[len(RC_MARKER):].strip() or 1)
                    lines.append(line)
                    (echo or echo_line)("[%4.0fs] %s" % (time.time() - started, line))
        finally:
            if proc.poll() is None:
                try:
                    proc.wait(20 if rc is not None else 0.1)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        return rc, "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    rc, _ = run(args.suite, " ".join(shlex.quote(c) for c in args.command), timeout=args.timeout)
    return 1 if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
