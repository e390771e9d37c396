#!/usr/bin/env python3
"""Writes the raw BTF of an arm64 kernel Image (Debian's vmlinuz: an uncompressed Image whose .BTF
section the kernel exports as /sys/kernel/btf/vmlinux) to a file bpftool reads:

  extract_btf.py VMLINUZ OUT.btf && bpftool btf dump file OUT.btf format c > bpf/arm64/vmlinux.h

The section starts with struct btf_header: magic 0xeB9F, version 1, flags 0, hdr_len 24, then
type_off, type_len, str_off, str_len; the largest well-formed one is the kernel's own."""
import struct
import sys

data = open(sys.argv[1], "rb").read()
best = None
at = data.find(b"\x9f\xeb\x01\x00")
while at >= 0:
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", data, at + 4)
    size = hdr_len + max(type_off + type_len, str_off + str_len)
    if hdr_len == 24 and type_off == 0 and str_off == type_len and at + size <= len(data):
        if best is None or size > best[1]:
            best = (at, size)
    at = data.find(b"\x9f\xeb\x01\x00", at + 1)
if best is None:
    sys.exit("no BTF in " + sys.argv[1])
open(sys.argv[2], "wb").write(data[best[0]:best[0] + best[1]])
print("BTF at offset %#x, %d bytes" % best)
