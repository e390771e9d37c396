#!/bin/sh
# Copies into ROOTFS what the agent needs at run time, from a system where the dwcp-observer
# package is installed: the binary, every library ldd resolves for it and for its TLS shim (and
# what civetweb dlopen()s: libssl/libcrypto), the dynamic loader, the profiles, CA-free TLS
# config, and passwd/group files with root, nobody and dwcp-observer (uid/gid 9476).
#   sh packaging/image-rootfs.sh ROOTFS     (used by packaging/Containerfile)
set -eu
root=$1
mkdir -p "$root"
copy() {  # keeps the path; a symbolic link is copied with what it points to
  for f in "$@"; do
    [ -e "$f" ] || continue
    mkdir -p "$root$(dirname "$f")"
    cp -a "$f" "$root$f"
    if [ -L "$f" ]; then  # the link's own target (absolute, as the link names it), then its end
      t=$(readlink "$f")
      case "$t" in /*) ;; *) t="$(dirname "$f")/$t" ;; esac
      copy "$t"
    fi
  done
}
libs() { ldd "$@" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' | sort -u; }
binaries="/usr/sbin/dwcp-observer $(find /usr/lib/dwcp-observer -name '*.so*' -type f)"
copy $binaries /usr/lib/dwcp-observer/libcrypto.so $(libs $binaries)
copy /usr/share/dwcp-observer/probes/*.json /usr/share/doc/dwcp-observer/copyright
mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\ndwcp-observer:x:9476:9476:dwcp-observer agent:/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\ndwcp-observer:x:9476:\n' > "$root/etc/group"
printf 'hosts: files\npasswd: files\ngroup: files\n' > "$root/etc/nsswitch.conf"
