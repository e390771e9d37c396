#!/usr/bin/env python3
"""Fails when the decoder (userspace/agent/decoder.{h,cpp}) can reach the target or the system.

Decoding a raw event is pure: events in, model events and read requests out
(docs/how-it-works.md). Its files may include only the contract, the model, the baseline
tracker and standard headers; a reader (stream_reader.h, encoder_reader.h, stream_sockets.h),
the BPF session or a system header would let it do I/O on the event path.

usage: check_decoder_pure.py DECODER_H DECODER_CPP   (exit 0: pure; 1: an include that is not)
"""
import re
import sys

ALLOWED_OURS = {"agent/decoder.h", "agent/baseline_tracker.h", "dwcp_observer/contract.h",
                "dwcp_observer/events.h", "dwcp_observer/model.h"}
# Standard C++ headers only: no <sys/...>, <unistd.h>, <fstream>, <thread> and the like.
ALLOWED_STD = {"cstdint", "cstring", "optional", "string", "variant", "vector", "cmath", "algorithm"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bad = []
    for path in sys.argv[1:]:
        for number, line in enumerate(open(path), 1):
            m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
            if not m:
                continue
            quote, header = m.groups()
            ok = header in ALLOWED_OURS if quote == '"' else header in ALLOWED_STD
            if not ok:
                bad.append("%s:%d: %s" % (path, number, line.strip()))
    for b in bad:
        print(b)
    if bad:
        print("check_decoder_pure: the decoder may not include these (it must stay free of I/O)")
        return 1
    print("check_decoder_pure: the decoder includes only the contract, the model and standard headers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
