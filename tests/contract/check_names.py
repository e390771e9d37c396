#!/usr/bin/env python3
"""Fails when a name of the BPF <-> agent contract is defined a second time.

The names of event kinds, drop reasons and value slots live in include/dwcp_observer/contract.h
only. This reads them from there and searches the C/C++ sources under the given roots for:
  - any string literal of a name that is only a contract name (e.g. "session_start"),
  - a `case DWCP_EV_...: return "..."` / `case DWCP_DROP_...: return "..."` mapping,
  - a line holding two or more event-kind/drop-reason literals, one of them not a DWCP label (a table).
Names that are also DWCP's own label values ("send", "encode", "decompress", ... as the
`operation` or `error_type` label) are checked by the last two rules only.

usage: check_names.py CONTRACT_H ROOT...   (exit 0: one definition; 1: a second one, listed)
"""
import pathlib
import re
import sys

# DWCP's own label values that happen to equal an event kind's name (see decoder.cpp, model/).
ALSO_DWCP_LABELS = {"send", "receive", "send_chunk", "reconnect", "encode", "decode", "decompress"}
TABLES = ("kEventKinds", "kDropReasonNames", "kSlotNames", "kStringSlotNames")
SOURCE_SUFFIXES = {".c", ".h", ".cpp", ".hpp", ".cc"}


def table_names(text, table, path):
    """The names a table defines: every literal, or for the kind table (one {name, feature, ...}
    row per kind) the first literal of each row."""
    m = re.search(r"\b%s\[\]\s*=\s*\{(.*?)\};" % table, text, re.S)
    if not m:
        sys.exit("check_names: table %s not found in %s" % (table, path))
    body = re.sub(r"//[^\n]*", "", m.group(1))
    if table == "kEventKinds":
        return {n for n in re.findall(r'\{\s*"([^"]*)"', body) if n}
    return {n for n in re.findall(r'"([^"]*)"', body) if n}


def contract_names(path):
    text = path.read_text()
    names = set()
    for table in TABLES:
        names.update(table_names(text, table, path))
    return names


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    contract = pathlib.Path(sys.argv[1]).resolve()
    names = contract_names(contract)
    # Slot names ("id", "bytes", "name", ...) are common words: only event kinds and drop
    # reasons are searched as single literals.
    text = contract.read_text()
    kinds_and_reasons = set()
    for table in ("kEventKinds", "kDropReasonNames"):
        kinds_and_reasons.update(table_names(text, table, contract))
    unique = kinds_and_reasons - ALSO_DWCP_LABELS
    mapping = re.compile(r"case\s+DWCP_(EV|DROP|SLOT)_\w+\s*:\s*return\s+\"")
    literal = re.compile(r'"([a-z_]+)"')
    found = []
    for root in sys.argv[2:]:
        for path in sorted(pathlib.Path(root).rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES or path.resolve() == contract:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                code = line.split("//", 1)[0]
                hits = [n for n in literal.findall(code) if n in kinds_and_reasons]
                why = None
                if mapping.search(code):
                    why = "maps a contract enum to a name"
                elif len(set(hits)) >= 2 and any(n not in ALSO_DWCP_LABELS for n in hits):
                    why = "a table of contract names"
                elif any(n in unique for n in hits):
                    why = "a contract name as a literal"
                if why:
                    found.append("%s:%d: %s: %s" % (path, number, why, line.strip()))
    for f in found:
        print(f)
    if found:
        print("check_names: %d second definition(s); use dwcp_observer/contract.h instead" % len(found))
        return 1
    print("check_names: %d contract names, each defined once" % len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
