"""docs/troubleshooting.md names every message the agent can print (found by grepping the sources)
and every exit code."""
import glob
import os
import re
import unittest

from harness import SOURCE_DIR

MESSAGE_SOURCES = ["userspace/agent/agent*.cpp", "userspace/agent/site_planner.cpp", "userspace/agent/process.cpp", "userspace/agent/privilege.cpp",
                   "userspace/agent/executable.cpp", "userspace/agent/executable_loader.cpp",
                   "userspace/agent/discovery.cpp", "userspace/agent/follow_policy.cpp",
                   "userspace/agent/stream_reader.cpp", "userspace/agent/stream_sockets.cpp",
                   "userspace/agent/encoder_reader.cpp",
                   "userspace/agent/bpf_session.cpp", "userspace/agent/bpf_load.cpp", "userspace/agent/bpf_targets.cpp",
                   "userspace/agent/uprobe_attach.cpp", "userspace/agent/main.cpp", "userspace/http/*.cpp",
                   "userspace/profile/*.cpp", "userspace/goelf/*.cpp"]
# Statements that produce text a user sees: error results (Error{...}, Error::system(...)), log lines
# (a leveled logger's log_.info(...) and the like), messages to stderr.
MESSAGE_STATEMENT = re.compile(r'(\b\w*error_?\s*\+?=|\bwhy\s*\+?=|\blog\(|\blog_\.(?:debug|info|warn|error)\(|'
                               r'Error\{|Error::system\(|fprintf\(stderr,)(.*?);', re.S)
C_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def normalize(text):
    text = text.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", " ")
    return " ".join(text.replace("`", "").replace('"', "").split())


def message_fragments():
    """(file, fragment) for every literal piece of every user-visible message in the sources."""
    out = []
    for pattern in MESSAGE_SOURCES:
        for path in sorted(glob.glob(os.path.join(SOURCE_DIR, pattern))):
            with open(path) as f:
                source = re.sub(r"//[^\n]*", "", f.read())
            for statement in MESSAGE_STATEMENT.finditer(source):
                for literal in C_STRING.findall(statement.group(2)):
                    for piece in re.split(r"%[a-z]+|dwcp-observer: ", literal):
                        piece = normalize(piece).strip(" :;,.()-\u2014'")
                        if len(piece) >= 10:
                            out.append((os.path.relpath(path, SOURCE_DIR), piece))
    return out


class TroubleshootingDoc(unittest.TestCase):
    """docs/troubleshooting.md must name every message the agent can print and every exit code."""

    def setUp(self):
        with open(os.path.join(SOURCE_DIR, "docs", "troubleshooting.md")) as f:
            self.doc = f.read()

    def test_every_exit_code_is_in_the_table(self):
        with open(os.path.join(SOURCE_DIR, "userspace", "agent", "agent.h")) as f:
            codes = re.findall(r"(kExit\w+)\s*=\s*(\d+)", f.read())
        self.assertGreaterEqual(len(codes), 8)
        for name, number in codes:
            self.assertRegex(self.doc, r"\|\s*%s\s*\|[^\n]*%s" % (number, name), "exit code %s %s" % (number, name))

    def test_every_message_is_documented(self):
        fragments = message_fragments()
        self.assertGreater(len(fragments), 150, "the extraction found too little: is the pattern stale?")
        doc = normalize(self.doc)
        missing = ["%s: %s" % (path, piece) for path, piece in fragments if piece not in doc]
        self.assertEqual(missing, [], "messages not in docs/troubleshooting.md:\n" + "\n".join(missing))


if __name__ == "__main__":
    unittest.main()
